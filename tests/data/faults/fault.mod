COMMENT
Fault injection for cellsweep's tests (written for cellsweep): a density mechanism that does
nothing unless `mode` asks it to fail during a simulation, the ways a user's mechanism can fail.
  mode 1: segmentation fault   mode 2: endless loop   mode 3: hoc error   mode 4: NaN current
ENDCOMMENT

NEURON {
    SUFFIX fault
    RANGE mode
    NONSPECIFIC_CURRENT i
}

PARAMETER {
    mode = 0
}

ASSIGNED {
    i (mA/cm2)
}

VERBATIM
#include <math.h>
#include <signal.h>
ENDVERBATIM

BREAKPOINT {
    i = 0
VERBATIM
    if (mode > 3.5 && mode < 4.5) {
        i = NAN;
    }
    if (mode > 0.5 && mode < 1.5) {
        raise(SIGSEGV);
    }
    if (mode > 1.5 && mode < 2.5) {
        volatile int spin = 1;
        while (spin) { }
    }
    if (mode > 2.5 && mode < 3.5) {
        hoc_execerror("fault mechanism", "injected hoc error");
    }
ENDVERBATIM
}
