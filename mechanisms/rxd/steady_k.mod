COMMENT
A constant outward potassium current (density amp, mA/cm2): a steady K+ source for
extracellular reaction-diffusion examples (configs/rxd/extracellular_k.yaml). rxd adds the
current of every segment to the extracellular k of the voxel around it.
ENDCOMMENT

NEURON {
    SUFFIX steady_k
    USEION k WRITE ik
    RANGE amp
}

UNITS {
    (mA) = (milliamp)
}

PARAMETER {
    amp = 0.01 (mA/cm2)
}

ASSIGNED {
    ik (mA/cm2)
}

BREAKPOINT {
    ik = amp
}
