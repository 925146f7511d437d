
NEURON {
    SUFFIX Kv
    USEION k READ ek WRITE ik
    RANGE gbar, i
}
UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}
PARAMETER {
    gbar = 0.036 (S/cm2)
}
ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    i (mA/cm2)
    ninf (1)
    ntau (ms)
}
STATE { n }
BREAKPOINT {
    SOLVE states METHOD cnexp
    i = gbar * n * n * n * n * (v - ek)
    ik = i
}
INITIAL {
    rates(v)
    n = ninf
}
DERIVATIVE states {
    rates(v)
    n' = (ninf - n) / ntau
}
PROCEDURE rates(v (mV)) {
    LOCAL an, bn
    an = 0.01 * (v + 55.0001) / (1 - exp(-(v + 55.0001) / 10))
    bn = 0.125 * exp(-(v + 65) / 80)
    ninf = an / (an + bn)
    ntau = 1 / (an + bn)
}
