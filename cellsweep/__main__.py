"""``python -m cellsweep`` runs the command line (under MPI: ``python -m mpi4py -m cellsweep``)."""

from cellsweep.launch.cli import main

if __name__ == "__main__":
    main()
