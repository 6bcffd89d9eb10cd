"""Print the "addr" of the first JSON log line whose message is "listening" (nothing if there is none yet).

clickgate logs JSON lines; the message and fields may sit at the top level or under "fields".
"""

import json
import sys


def find(obj, name):
    if isinstance(obj, dict):
        if name in obj and not isinstance(obj[name], (dict, list)):
            return obj[name]
        for value in obj.values():
            found = find(value, name)
            if found is not None:
                return found
    return None


def main(path: str) -> int:
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            for line in log:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if find(entry, "message") == "listening" and find(entry, "addr"):
                    print(find(entry, "addr"))
                    return 0
    except FileNotFoundError:
        pass
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
