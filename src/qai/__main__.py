"""The `qai` command (``python -m qai``, and the script pyproject installs)."""

import gc


def run() -> None:
    # Start-up makes ~200,000 objects that live as long as the process and no garbage: the
    # collector's passes over them are 0.4 s of a 2.4 s start. It is on again once the command
    # is loaded (`qai serve`: once its app is built, see qai.cli.serve.run_server).
    gc.disable()
    from qai.cli import main

    main()


if __name__ == "__main__":
    run()
