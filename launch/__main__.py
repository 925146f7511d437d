"""``python -m launch`` runs the command line (under MPI: ``python -m mpi4py -m launch``)."""

from launch.cli import main

if __name__ == "__main__":
    main()
