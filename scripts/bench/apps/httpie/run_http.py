"""httpie's `http` console script (`httpie.__main__:main`), as pip writes it."""
import sys

from httpie.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
