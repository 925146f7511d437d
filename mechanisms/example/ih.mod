COMMENT
ih: hyperpolarisation-activated cation current (HCN), single gate m.

Written for cellsweep (bundled example cell) from the published rate
equations of
  Kole MHP, Hallermann S, Stuart GJ (2006) Single Ih channels in pyramidal
  neuron dendrites: properties, distribution, and impact on action
  potential output. J Neurosci 26:1677-1687.

  alpha_m = 0.00643 (v - va_half) / (exp((v - va_half)/ka) - 1)
  beta_m  = 0.193 exp((v - vb_zero)/kb)
  m_inf = alpha_m / (alpha_m + beta_m), tau_m = 1 / (alpha_m + beta_m) / tadj
  tadj = q10^((celsius - temp_ref)/10)
  ihcn = gbar m (v - ehcn)

with va_half = -154.9 mV, ka = 11.9 mV, vb_zero = 0 mV, kb = 33.1 mV, rates
in 1/ms; ehcn defaults to -45 mV. Temperature: cellsweep applies the rates
unchanged at temp_ref = 34 degC (the example cell's temperature) and scales
them with q10 = 3 elsewhere; both values are cellsweep's choices. The
removable singularity of alpha_m at v = va_half is evaluated with
efun(z) = z/(exp(z) - 1), which is finite at z = 0.
ENDCOMMENT

NEURON {
    SUFFIX ih
    NONSPECIFIC_CURRENT ihcn
    RANGE gbar, g, ihcn, ehcn
    RANGE m_inf, tau_m
    GLOBAL va_half, ka, vb_zero, kb, q10, temp_ref
    THREADSAFE
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.0003 (S/cm2)
    ehcn = -45 (mV)
    q10 = 3 (1)
    temp_ref = 34 (degC)    : temperature at which the published rates apply
    va_half = -154.9 (mV)
    ka = 11.9 (mV)
    vb_zero = 0 (mV)
    kb = 33.1 (mV)
}

ASSIGNED {
    v (mV)
    celsius (degC)
    ihcn (mA/cm2)
    g (S/cm2)
    m_inf (1)
    tau_m (ms)
}

STATE { m }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * m
    ihcn = g * (v - ehcn)
}

INITIAL {
    rates(v)
    m = m_inf
}

DERIVATIVE states {
    rates(v)
    m' = (m_inf - m) / tau_m
}

PROCEDURE rates(v (mV)) {
    LOCAL am, bm, tadj
    tadj = q10 ^ ((celsius - temp_ref) / 10 (degC))
    am = 0.00643 (/ms) * ka * efun((v - va_half) / ka) / 1 (mV)
    bm = 0.193 (/ms) * exp((v - vb_zero) / kb)
    m_inf = am / (am + bm)
    tau_m = 1 / (am + bm) / tadj
}

FUNCTION efun(z) {
    : z / (exp(z) - 1), continuous through z = 0
    if (fabs(z) < 1e-6) {
        efun = 1 - z / 2
    } else if (z > 700) {
        efun = 0
    } else {
        efun = z / (exp(z) - 1)
    }
}
