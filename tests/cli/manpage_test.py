#!/usr/bin/env python3
"""docs/vmsimctl.1 against the real vmsimctl:
1. every command vmsimctl has (read from the binary: `__complete` word by word, and `help` to
   tell a command from a noun) has its own .TP entry in the page, whose tag opens with
   \\fB<command words>\\fR, every such entry names a command that exists, and each entry
   mentions every --option of the command's usage line;
2. every global option of `vmsimctl --help` is described;
3. groff renders the page without a warning (-ww), when groff is installed;
4. the EXAMPLES run against a fresh vmsimd and print exactly what the page shows.
Usage: manpage_test.py VMSIMD VMSIMCTL SRCDIR"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

VMSIMD, CTL, SRC = sys.argv[1:4]
PAGE = os.path.join(SRC, "docs", "vmsimctl.1")
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def ctl(*args, env=None):
    return subprocess.run([CTL, *args], capture_output=True, text=True, env=env)


def cli_commands():
    """Every command of the binary's table (hidden ones excluded), as 'noun verb' or 'word'."""
    cmds = []
    for w in ctl("__complete").stdout.split():
        usage = ctl("help", w).stdout
        if re.match(r"Usage: vmsimctl \[global flags\] %s( |\n)" % re.escape(w), usage):
            cmds.append(w)
        for verb in ctl("__complete", w).stdout.split():
            cmds.append(w + " " + verb)
    return cmds


def unroff(s):
    """The text of a roff line, for comparison with what a terminal shows."""
    s = re.sub(r"\\f[BIRP]", "", s)
    return s.replace(r"\-", "-").replace(r"\(aq", "'").replace(r"\e", "\\").replace(r"\&", "")


def page_commands(src):
    """{command words: the text of its entry} for each .TP entry of COMMANDS whose tag opens
    with \\fB...\\fR; an entry runs to the next .TP, .SS or .SH."""
    body = src[src.index(".SH COMMANDS"):src.index(".SH EXIT STATUS")]
    lines = body.splitlines()
    out, names = {}, []
    for i, line in enumerate(lines[:-1]):
        if line == ".TP":
            m = re.match(r"\\fB(.+?)\\fR", lines[i + 1])
            check(m is not None, "a .TP tag in COMMANDS that does not open with \\fB: %r"
                  % lines[i + 1])
            if m:
                name = unroff(m.group(1))
                names.append(name)
                end = next((j for j in range(i + 1, len(lines))
                            if lines[j].startswith((".TP", ".SS", ".SH"))), len(lines))
                out[name] = unroff("\n".join(lines[i + 1:end]))
    check(len(names) == len(set(names)), "a command is described twice: %s" %
          sorted(c for c in names if names.count(c) > 1))
    return out


def check_commands(src):
    cli = cli_commands()
    page = page_commands(src)
    check(len(cli) > 70, "the binary lists its commands (%d found)" % len(cli))
    for c in cli:
        check(c in page, "command '%s' has no entry in docs/vmsimctl.1" % c)
    for c in page:
        check(c in cli, "docs/vmsimctl.1 describes '%s', which vmsimctl does not have" % c)
    # every option of a command's usage line is in its entry
    for c in cli:
        usage = ctl("help", *c.split()).stdout.split("\n", 1)[0]
        for opt in sorted(set(re.findall(r"--[a-z][a-z-]*", usage))):
            check(c not in page or opt in page[c],
                  "the entry of '%s' does not mention its option %s" % (c, opt))
    return len(cli)


def check_options(src):
    text = unroff(src)
    usage = ctl("--help").stdout
    opts = re.findall(r"^\s+(?:-\w, )?(--[a-z-]+)", usage, re.M)
    check(len(opts) >= 7, "global options found in --help: %s" % opts)
    for o in opts + ["--version"]:
        check(o in text, "global option %s is not in the page" % o)
    for var in ("VMSIM_SERVER", "VMSIM_TOKEN", "VMSIM_MACHINE", "XDG_CONFIG_HOME"):
        check(".B %s\n" % var in src, "environment variable %s has no entry" % var)
    for code in "0123":
        check(".TP\n.B %s\n" % code in src, "exit status %s has no entry" % code)


def check_render():
    if not shutil.which("groff"):
        print("groff not installed: rendering not checked")
        return
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", PAGE], capture_output=True,
                       text=True)
    check(r.returncode == 0 and r.stderr == "", "groff -ww warns: %s" % r.stderr[:2000])
    r = subprocess.run(["groff", "-man", "-Tutf8", PAGE], capture_output=True, text=True)
    check("history [--from SEQ]" in re.sub(r".\x08", "", r.stdout).replace("\u2010", "-"),
          "the rendered page shows the history entry")


def examples(src):
    """[(command, expected output)] of the EXAMPLES section, in order."""
    body = src[src.index(".SH EXAMPLES"):src.index(".SH SEE ALSO")]
    out, inside = [], False
    for line in body.splitlines():
        if line in (".nf", ".fi"):
            inside = line == ".nf"
        if line.startswith(".") or not inside:
            continue
        if line.startswith("$ "):
            out.append([unroff(line[2:]), []])
        elif out:
            out[-1][1].append(unroff(line))
    return [(c, "\n".join(o)) for c, o in out if c]


def check_examples(src):
    tmp = tempfile.mkdtemp(prefix="vmsim-man-")
    env = dict(os.environ, HOME=tmp, XDG_CONFIG_HOME="", VMSIM_TOKEN="", VMSIM_MACHINE="",
               PATH=os.path.dirname(os.path.abspath(CTL)) + os.pathsep + os.environ["PATH"])
    srv = subprocess.Popen([VMSIMD, "--listen", "127.0.0.1:0", "--log-level", "warn", "--open",
                            "--db", ":memory:"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = srv.stdout.readline().decode()
        port = re.search(r"listening on http://127.0.0.1:(\d+)/", line).group(1)
        env["VMSIM_SERVER"] = "http://127.0.0.1:" + port
        ex = examples(src)
        check(len(ex) >= 10, "examples found: %d" % len(ex))
        for cmd, want in ex:
            check(cmd.startswith("vmsimctl "), "an example that is not a vmsimctl command: " + cmd)
            r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env,
                               cwd=tmp)
            got = r.stdout.rstrip("\n")
            check(r.returncode == 0 and got == want,
                  "example `%s`: exit %d\n--- page\n%s\n--- got\n%s%s" %
                  (cmd, r.returncode, want, got, r.stderr))
    finally:
        srv.terminate()
        srv.wait(timeout=10)
        srv.stdout.close()
        srv.stderr.close()
        shutil.rmtree(tmp)


def main():
    src = open(PAGE).read()
    n = check_commands(src)
    check_options(src)
    check_render()
    check_examples(src)
    print("%d commands, %d checks, %d failed" % (n, checks, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
