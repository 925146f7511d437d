COMMENT
k_dr: delayed-rectifier potassium current, n^4 Hodgkin-Huxley-type kinetics.

Written for cellsweep (bundled example cell) from the published rate
equations of the Traub & Miles delayed rectifier,
  Traub RD, Miles R (1991) Neuronal Networks of the Hippocampus. Cambridge
  University Press,
in the form given by
  Pospischil M, Toledo-Rodriguez M, Monier C, Piwkowska Z, Bal T, Fregnac Y,
  Markram H, Destexhe A (2008) Minimal Hodgkin-Huxley type models for
  different classes of cortical and thalamic neurons. Biol Cybern
  99:427-441.

  u = v - vtraub
  alpha_n = 0.032 (u - 15) / (1 - exp(-(u - 15)/5))
  beta_n  = 0.5 exp(-(u - 10)/40)
  n_inf = alpha_n / (alpha_n + beta_n), tau_n = 1 / (alpha_n + beta_n) / tadj
  tadj = q10^((celsius - temp_ref)/10)
  ik = gbar n^4 (v - ek)

Rates are in 1/ms (voltages in mV); vtraub = -56.2 mV is the value
Pospischil et al. (2008) give for regular-spiking cells. Temperature:
cellsweep applies the rates unchanged at temp_ref = 36 degC and scales them
with q10 = 3 elsewhere; both values are cellsweep's choices. The removable
singularity of alpha_n is evaluated with efun(z) = z/(exp(z) - 1), which is
finite at z = 0.
ENDCOMMENT

NEURON {
    SUFFIX k_dr
    USEION k READ ek WRITE ik
    RANGE gbar, g, ik
    RANGE n_inf, tau_n
    GLOBAL vtraub, q10, temp_ref
    THREADSAFE
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.08 (S/cm2)
    vtraub = -56.2 (mV)     : same role as in na_t
    q10 = 3 (1)
    temp_ref = 36 (degC)    : temperature at which the published rates apply
}

ASSIGNED {
    v (mV)
    celsius (degC)
    ek (mV)
    ik (mA/cm2)
    g (S/cm2)
    n_inf (1)
    tau_n (ms)
}

STATE { n }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * n * n * n * n
    ik = g * (v - ek)
}

INITIAL {
    rates(v)
    n = n_inf
}

DERIVATIVE states {
    rates(v)
    n' = (n_inf - n) / tau_n
}

PROCEDURE rates(v (mV)) {
    LOCAL an, bn, tadj, u
    tadj = q10 ^ ((celsius - temp_ref) / 10 (degC))
    u = (v - vtraub) / 1 (mV)
    an = 0.032 (/ms) * 5 * efun(-(u - 15) / 5)
    bn = 0.5 (/ms) * exp(-(u - 10) / 40)
    n_inf = an / (an + bn)
    tau_n = 1 / (an + bn) / tadj
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
