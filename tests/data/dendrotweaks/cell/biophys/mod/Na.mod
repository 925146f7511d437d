
NEURON {
    SUFFIX Na
    USEION na READ ena WRITE ina
    RANGE gbar, i
}
UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}
PARAMETER {
    gbar = 0.12 (S/cm2)
}
ASSIGNED {
    v (mV)
    ena (mV)
    ina (mA/cm2)
    i (mA/cm2)
    minf (1)
    hinf (1)
    mtau (ms)
    htau (ms)
}
STATE { m h }
BREAKPOINT {
    SOLVE states METHOD cnexp
    i = gbar * m * m * m * h * (v - ena)
    ina = i
}
INITIAL {
    rates(v)
    m = minf
    h = hinf
}
DERIVATIVE states {
    rates(v)
    m' = (minf - m) / mtau
    h' = (hinf - h) / htau
}
PROCEDURE rates(v (mV)) {
    LOCAL am, bm, ah, bh
    am = 0.1 * (v + 40.0001) / (1 - exp(-(v + 40.0001) / 10))
    bm = 4 * exp(-(v + 65) / 18)
    ah = 0.07 * exp(-(v + 65) / 20)
    bh = 1 / (1 + exp(-(v + 35) / 10))
    minf = am / (am + bm)
    mtau = 1 / (am + bm)
    hinf = ah / (ah + bh)
    htau = 1 / (ah + bh)
}
