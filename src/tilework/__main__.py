# Guarded: worker and task processes are spawned, and import this module again as their
# ``__mp_main__``; they have no use for the CLI's imports.
if __name__ == "__main__":
    from tilework.cli import main

    main()
