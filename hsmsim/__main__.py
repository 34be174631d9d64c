import sys

from hsmsim.cli import main

sys.exit(main())
