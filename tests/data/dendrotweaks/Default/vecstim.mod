TITLE VecStim: an event source that delivers the times of a Vector

COMMENT
cellsweep's test copy of the event player a DendroTweaks workspace's shared Default/ holds
(NEURON's usual VecStim interface: ARTIFICIAL_CELL VecStim, play(vector) before finitialize).
Each time of the vector, in order, becomes an event at that time; the vector must not decrease.
ENDCOMMENT

NEURON {
    THREADSAFE
    ARTIFICIAL_CELL VecStim
}

ASSIGNED {
    position         : index of the next time to deliver; -1 once all are delivered
    next_time (ms)
    times            : the Vector given to play()
}

INITIAL {
    position = 0
    take_next()
    if (position > 0) {
        net_send(next_time - t, 1)
    }
}

NET_RECEIVE (w) {
    if (flag == 1) {
        net_event(t)
        take_next()
        if (position > 0) {
            net_send(next_time - t, 1)
        }
    }
}

PROCEDURE take_next() {
VERBATIM
    {
        void* vector = *((void**) (&times));
        int k = (int) position;
        if (k < 0 || !vector || k >= vector_capacity(vector)) {
            position = -1.;
        } else {
            next_time = vector_vec(vector)[k];
            position = k + 1.;
        }
    }
ENDVERBATIM
}

PROCEDURE play() {
VERBATIM
    {
        void** slot = (void**) (&times);
        *slot = ifarg(1) ? vector_arg(1) : (void*) 0;
    }
ENDVERBATIM
}
