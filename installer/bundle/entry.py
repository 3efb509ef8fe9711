"""The bundled application's entry point: the `workstation` command, frozen by PyInstaller.

``freeze_support`` comes first so the loading and decimation worker processes (forkserver
and spawn start the executable again) run their task instead of the command line.
"""

import multiprocessing

multiprocessing.freeze_support()

from workstation.cli.main import main  # noqa: E402

raise SystemExit(main())
