import sys

from srharness.cli import main

sys.exit(main())
