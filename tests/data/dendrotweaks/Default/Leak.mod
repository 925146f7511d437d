TITLE Leak: a passive conductance with its own reversal potential

COMMENT
cellsweep's test copy of a DendroTweaks workspace's shared leak channel: the mechanism name and
parameter names (gbar, e) DendroTweaks' models use, i = gbar (v - e).
ENDCOMMENT

NEURON {
    SUFFIX Leak
    NONSPECIFIC_CURRENT i
    RANGE gbar, e, i
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0 (S/cm2)
    e = -70 (mV)
}

ASSIGNED {
    v (mV)
    i (mA/cm2)
}

BREAKPOINT {
    i = gbar * (v - e)
}
