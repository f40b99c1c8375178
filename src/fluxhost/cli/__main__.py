"""`python -m fluxhost.cli`, as the tests and harnesses start it."""

import sys

from fluxhost.cli import main

sys.exit(main())
