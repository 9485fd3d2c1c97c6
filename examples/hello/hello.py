import sys


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "world"
    print(f"Hello, {name}! (Python {sys.version.split()[0]}, from {sys.argv[0]})")


if __name__ == "__main__":
    main()
