COMMENT
na_t: transient sodium current, m^3 h Hodgkin-Huxley-type kinetics.

Written for cellsweep (bundled example cell) from the published rate
equations of the Traub & Miles sodium current,
  Traub RD, Miles R (1991) Neuronal Networks of the Hippocampus. Cambridge
  University Press,
in the form given by
  Pospischil M, Toledo-Rodriguez M, Monier C, Piwkowska Z, Bal T, Fregnac Y,
  Markram H, Destexhe A (2008) Minimal Hodgkin-Huxley type models for
  different classes of cortical and thalamic neurons. Biol Cybern
  99:427-441.

  u = v - vtraub
  alpha_m = 0.32 (u - 13) / (1 - exp(-(u - 13)/4))
  beta_m  = 0.28 (u - 40) / (exp((u - 40)/5) - 1)
  alpha_h = 0.128 exp(-(u - 17)/18)
  beta_h  = 4 / (1 + exp(-(u - 40)/5))
  x_inf = alpha_x / (alpha_x + beta_x), tau_x = 1 / (alpha_x + beta_x) / tadj
  tadj = q10^((celsius - temp_ref)/10)
  ina = gbar m^3 h (v - ena)

Rates are in 1/ms (voltages in mV); vtraub = -56.2 mV is the value
Pospischil et al. (2008) give for regular-spiking cells. Temperature:
cellsweep applies the rates unchanged at temp_ref = 36 degC and scales them
with q10 = 3 elsewhere; both values are cellsweep's choices. The removable
singularities x/(1 - exp(-x/k)) are evaluated with efun(z) = z/(exp(z) - 1),
which is finite at z = 0.
ENDCOMMENT

NEURON {
    SUFFIX na_t
    USEION na READ ena WRITE ina
    RANGE gbar, g, ina
    RANGE m_inf, h_inf, tau_m, tau_h
    GLOBAL vtraub, q10, temp_ref
    THREADSAFE
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.1 (S/cm2)
    vtraub = -56.2 (mV)     : shifts all rates; sets the spike threshold
    q10 = 3 (1)
    temp_ref = 36 (degC)    : temperature at which the published rates apply
}

ASSIGNED {
    v (mV)
    celsius (degC)
    ena (mV)
    ina (mA/cm2)
    g (S/cm2)
    m_inf (1)
    h_inf (1)
    tau_m (ms)
    tau_h (ms)
}

STATE { m h }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * m * m * m * h
    ina = g * (v - ena)
}

INITIAL {
    rates(v)
    m = m_inf
    h = h_inf
}

DERIVATIVE states {
    rates(v)
    m' = (m_inf - m) / tau_m
    h' = (h_inf - h) / tau_h
}

PROCEDURE rates(v (mV)) {
    LOCAL am, bm, ah, bh, tadj, u
    tadj = q10 ^ ((celsius - temp_ref) / 10 (degC))
    u = (v - vtraub) / 1 (mV)
    am = 0.32 (/ms) * 4 * efun(-(u - 13) / 4)
    bm = 0.28 (/ms) * 5 * efun((u - 40) / 5)
    ah = 0.128 (/ms) * exp(-(u - 17) / 18)
    bh = 4 (/ms) / (1 + exp(-(u - 40) / 5))
    m_inf = am / (am + bm)
    tau_m = 1 / (am + bm) / tadj
    h_inf = ah / (ah + bh)
    tau_h = 1 / (ah + bh) / tadj
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
