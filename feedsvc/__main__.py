from .cli import main

if __name__ == "__main__":  # the parallel start-up parse spawns processes that import __main__
    main()
