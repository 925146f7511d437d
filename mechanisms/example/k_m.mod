COMMENT
k_m: M-current, slow non-inactivating potassium current (single gate n).

Written for cellsweep (bundled example cell) from the published equations
of the M-current model of
  Yamada WM, Koch C, Adams PR (1989) Multiple channels and calcium dynamics.
  In: Koch C, Segev I (eds) Methods in Neuronal Modeling. MIT Press,
(fitted to the muscarinic K current of Adams PR, Brown DA, Constanti A
(1982) J Physiol 330:537-572), in the form given by
  Pospischil M et al. (2008) Minimal Hodgkin-Huxley type models for
  different classes of cortical and thalamic neurons. Biol Cybern
  99:427-441.

  n_inf = 1 / (1 + exp(-(v - vn_half)/kn))
  tau_n = tau_max / (3.3 exp((v - vn_half)/20) + exp(-(v - vn_half)/20)) / tadj
  tadj = q10^((celsius - temp_ref)/10)
  ik = gbar n (v - ek)

with vn_half = -35 mV and kn = 10 mV. tau_max differs between cell classes
in Pospischil et al. (2008); the default of 200 ms is cellsweep's choice for
its example cell (fast enough that the current adapts firing within a few
spikes instead of producing bursts), as are temp_ref = 36 degC (temperature
at which the rates are taken to apply) and q10 = 2.3.
ENDCOMMENT

NEURON {
    SUFFIX k_m
    USEION k READ ek WRITE ik
    RANGE gbar, g, ik
    RANGE n_inf, tau_n
    GLOBAL tau_max, vn_half, kn, q10, temp_ref
    THREADSAFE
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.005 (S/cm2)
    tau_max = 200 (ms)
    q10 = 2.3 (1)
    temp_ref = 36 (degC)    : temperature at which the rates are taken to apply
    vn_half = -35 (mV)
    kn = 10 (mV)
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
    g = gbar * n
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
    LOCAL tadj
    tadj = q10 ^ ((celsius - temp_ref) / 10 (degC))
    n_inf = 1 / (1 + exp(-(v - vn_half) / kn))
    tau_n = tau_max / (3.3 * exp((v - vn_half) / 20 (mV))
                       + exp(-(v - vn_half) / 20 (mV))) / tadj
}
