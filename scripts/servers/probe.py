#!/usr/bin/env python3
"""Protocol-level readiness probes for the test servers (stdlib only).

    probe.py amqp  PORT   AMQP 0-9-1 protocol header -> expects Connection.Start
    probe.py kafka PORT   Kafka Metadata v4 request  -> expects at least one broker
    probe.py mongo PORT   MongoDB OP_MSG {hello: 1}  -> expects ok: 1
                          (through pymongo when it is installed, else raw OP_MSG;
                          DTQ_PROBE_RAW=1 forces the raw one)

Exit status 0 when the server answered as expected; otherwise 1, with the
reason on stderr. Every probe connects to 127.0.0.1 with a short timeout.
"""

import os
import socket
import struct
import sys

HOST = "127.0.0.1"
TIMEOUT = float(os.environ.get("DTQ_PROBE_TIMEOUT", "2"))


def recv_exact(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(data), count))
        data += chunk
    return data


def probe_amqp(port):
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        frame_type, channel, size = struct.unpack(">BHI", recv_exact(sock, 7))
        payload = recv_exact(sock, size + 1)
    class_id, method_id, major, minor = struct.unpack(">HHBB", payload[:6])
    if (frame_type, channel, class_id, method_id) != (1, 0, 10, 10):
        raise RuntimeError("expected Connection.Start, got frame %d class %d method %d"
                           % (frame_type, class_id, method_id))
    return "AMQP %d-%d Connection.Start" % (major, minor)


def kafka_string(reader):
    (length,) = struct.unpack(">h", reader.read(2))
    return None if length < 0 else reader.read(length).decode()


class Reader:
    def __init__(self, data):
        self.data, self.offset = data, 0

    def read(self, count):
        chunk = self.data[self.offset:self.offset + count]
        self.offset += count
        return chunk


def probe_kafka(port):
    client_id = b"dtq-probe"
    # Request header v1, Metadata (api key 3) v4: all topics (null array),
    # no auto-creation.
    body = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id + struct.pack(">ib", -1, 0)
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", recv_exact(sock, 4))
        reader = Reader(recv_exact(sock, size))
    correlation_id, _throttle = struct.unpack(">ii", reader.read(8))
    if correlation_id != 1:
        raise RuntimeError("unexpected correlation id %d" % correlation_id)
    (broker_count,) = struct.unpack(">i", reader.read(4))
    brokers = []
    for _ in range(broker_count):
        (node_id,) = struct.unpack(">i", reader.read(4))
        host = kafka_string(reader)
        (broker_port,) = struct.unpack(">i", reader.read(4))
        kafka_string(reader)  # rack
        brokers.append("%d@%s:%d" % (node_id, host, broker_port))
    cluster_id = kafka_string(reader)
    (controller_id,) = struct.unpack(">i", reader.read(4))
    if not brokers:
        raise RuntimeError("metadata lists no broker yet")
    return "Kafka cluster %s, brokers %s, controller %d" % (cluster_id, ",".join(brokers), controller_id)


def bson_document(pairs):
    """Encodes a flat document of str/int/float values."""
    body = b""
    for key, value in pairs:
        name = key.encode() + b"\x00"
        if isinstance(value, str):
            text = value.encode() + b"\x00"
            body += b"\x02" + name + struct.pack("<i", len(text)) + text
        elif isinstance(value, int):
            body += b"\x10" + name + struct.pack("<i", value)
        else:
            body += b"\x01" + name + struct.pack("<d", value)
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def bson_number(document, key):
    """Finds a top-level int32/int64/double field in an encoded document."""
    offset, end = 4, len(document) - 1
    while offset < end:
        kind = document[offset]
        name_end = document.index(b"\x00", offset + 1)
        name = document[offset + 1:name_end].decode()
        offset = name_end + 1
        sizes = {0x01: 8, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x07: 12}
        if kind in (0x01, 0x10, 0x12) and name == key:
            fmt = {0x01: "<d", 0x10: "<i", 0x12: "<q"}[kind]
            return struct.unpack_from(fmt, document, offset)[0]
        if kind in sizes:
            offset += sizes[kind]
        elif kind in (0x02, 0x0D, 0x0E):
            offset += 4 + struct.unpack_from("<i", document, offset)[0]
        elif kind in (0x03, 0x04):
            offset += struct.unpack_from("<i", document, offset)[0]
        elif kind == 0x05:
            offset += 5 + struct.unpack_from("<i", document, offset)[0]
        else:
            raise RuntimeError("unsupported BSON type 0x%02x in the reply" % kind)
    return None


def probe_mongo(port):
    pymongo = None
    if not os.environ.get("DTQ_PROBE_RAW"):
        try:
            import pymongo  # Debian's python3-pymongo, when installed
        except ImportError:
            pass
    if pymongo is not None:
        client = pymongo.MongoClient(HOST, port, serverSelectionTimeoutMS=int(TIMEOUT * 1000),
                                     connectTimeoutMS=int(TIMEOUT * 1000), directConnection=True)
        try:
            reply = client.admin.command("hello")
            version = client.server_info().get("version", "?")
        finally:
            client.close()
        if reply.get("ok") != 1:
            raise RuntimeError("hello answered %r" % reply)
        return "MongoDB wire protocol (pymongo %s): version %s, maxWireVersion %s" % (
            pymongo.version, version, reply.get("maxWireVersion"))
    document = bson_document([("hello", 1), ("$db", "admin")])
    # OP_MSG (2013): flags, then one section of kind 0 (the body).
    message = struct.pack("<I", 0) + b"\x00" + document
    header = struct.pack("<iiii", 16 + len(message), 1, 0, 2013)
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
        sock.sendall(header + message)
        (length,) = struct.unpack("<i", recv_exact(sock, 4))
        reply = recv_exact(sock, length - 4)
    _request_id, response_to, opcode = struct.unpack_from("<iii", reply, 0)
    if opcode != 2013 or response_to != 1 or reply[16] != 0:
        raise RuntimeError("unexpected reply: opcode %d, responseTo %d" % (opcode, response_to))
    body = reply[17:]
    if bson_number(body, "ok") != 1:
        raise RuntimeError("hello did not answer ok: 1")
    return "MongoDB wire protocol (raw OP_MSG): maxWireVersion %s" % bson_number(body, "maxWireVersion")


def main():
    probes = {"amqp": probe_amqp, "kafka": probe_kafka, "mongo": probe_mongo}
    if len(sys.argv) != 3 or sys.argv[1] not in probes:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        print(probes[sys.argv[1]](int(sys.argv[2])))
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        print("%s probe on %s:%s failed: %s" % (sys.argv[1], HOST, sys.argv[2], error), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
