#!/usr/bin/python3
"""Sends one request to a godwit-vmm control socket and prints the reply.

usage: vmmctl.py SOCKET CMD [JSON-ARGS]
  e.g. vmmctl.py /tmp/vm.sock status
       vmmctl.py /tmp/vm.sock regs '{"vcpu": 0}'
Exit status: 0 if the reply says ok, 1 if it carries an error, 2 on usage
or connection errors.
"""

import json
import socket
import sys


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    request = {"cmd": sys.argv[2]}
    if len(sys.argv) == 4:
        request["args"] = json.loads(sys.argv[3])
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(sys.argv[1])
            s.sendall(json.dumps(request).encode() + b"\n")
            reply = s.makefile("rb").readline()
    except OSError as e:
        print(f"vmmctl: {sys.argv[1]}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(reply.decode().strip())
    return 0 if json.loads(reply).get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
