"""yt-dlp's console script, as `pip install yt-dlp` writes it."""
import sys

from yt_dlp import main

if __name__ == "__main__":
    sys.exit(main())
