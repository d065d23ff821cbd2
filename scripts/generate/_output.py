"""What every generator in scripts/generate shares: write the generated files, or with --check
regenerate them in memory, compare with the committed files and fail naming each stale one."""
import difflib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Output:
    def __init__(self, generator, argv=None):
        argv = sys.argv[1:] if argv is None else argv
        unknown = [a for a in argv if a != "--check"]
        if unknown:
            sys.exit(f"usage: scripts/generate/{generator} [--check]  (unknown: {' '.join(unknown)})")
        self.generator = generator
        self.check = "--check" in argv
        self.stale = []

    def emit(self, relative_path, text, ignored_header_lines=0):
        """Writes `text` to `relative_path` (from the repository root). With --check, compares instead;
        the first `ignored_header_lines` name the tool versions and do not count."""
        path = os.path.join(ROOT, relative_path)
        if not self.check:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
            return
        try:
            with open(path, encoding="utf-8", newline="") as f:
                current = f.read()
        except FileNotFoundError:
            current = ""
        old = current.splitlines(keepends=True)[ignored_header_lines:]
        new = text.splitlines(keepends=True)[ignored_header_lines:]
        if old != new:
            self.stale.append(relative_path)
            diff = list(difflib.unified_diff(old, new, f"{relative_path} (committed)", f"{relative_path} (generated)", n=1))
            sys.stderr.write("".join(line[:200] + ("\n" if len(line) > 200 else "") for line in diff[:30]))
            if len(diff) > 30:
                sys.stderr.write(f"... {len(diff) - 30} more diff lines\n")

    def finish(self):
        """The exit status: 1 with a message per stale file under --check, else 0."""
        for path in self.stale:
            print(f"{path} is stale: run scripts/generate/{self.generator}", file=sys.stderr)
        return 1 if self.stale else 0
