package pgsvc.pooler;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

import io.netty.channel.Channel;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.UnixChannel;

import pgsvc.pooler.tls.TlsInfo;

/**
 * One client or server connection as the console's SHOW CLIENTS, SERVERS, SOCKETS, ACTIVE_SOCKETS and FDS list it,
 * read on the connection's own event loop so that its fields agree with each other.
 *
 * @param server       a server connection (type S), else a client (type C)
 * @param list         PgBouncer's list the connection is on: for clients login, active or waiting; for servers
 *                     new, active, idle or tested
 * @param linkId       the id of the linked client or server, 0 for none
 * @param waitMicros   how long a waiting client has waited for a server
 * @param remotePid    a server's backend pid; a client's process id over a Unix socket, else 0
 * @param pendingBytes bytes written to the socket and not yet sent
 * @param fd           the socket's file descriptor with the native transport, else -1
 * @param cancelKey    the key a CancelRequest names: the pooler's for a client, PostgreSQL's for a server
 * @param tls          the TLS version and cipher as PgBouncer prints them ({@code TLSv1.3/TLS_AES_256_GCM_SHA384}),
 *                     empty for plaintext
 */
record SocketRow(boolean server, String list, String user, String database, SocketAddress remote,
        SocketAddress local, long connectMillis, long requestMillis, long waitMicros, boolean closeNeeded, long id,
        long linkId, int linkFd, int remotePid, String applicationName, int preparedStatements, long pendingBytes,
        int fd, long cancelKey, String clientEncoding, String standardConformingStrings, String dateStyle,
        String timeZone, String tls) {

    /** A client, on its loop; null for one that is closed. */
    static SocketRow client(ClientConnection c, TrackedParams params, long nowNanos, long nowMillis) {
        String list = c.listName();
        if (list == null) {
            return null;
        }
        Channel ch = c.channel();
        ServerConnection link = c.linkedServer();
        long waited = list.equals("waiting") ? Math.max(0, nowNanos - c.requestNanos()) / 1000 : 0;
        return new SocketRow(false, list, c.user() == null ? "(nouser)" : c.user(),
                c.database() == null ? "(nodb)" : c.database(), ch.remoteAddress(), ch.localAddress(),
                c.connectMillis(), wallClock(c.requestNanos(), nowNanos, nowMillis), waited, false, c.id(),
                link == null ? 0 : link.id(), link == null ? 0 : fd(link.channel()), peerPid(ch),
                value(c, params, "application_name"), c.preparedStatementCount(), pending(ch), fd(ch), c.cancelKey(),
                value(c, params, "client_encoding"), value(c, params, "standard_conforming_strings"),
                value(c, params, "DateStyle"), value(c, params, "TimeZone"), TlsInfo.describe(ch));
    }

    /** A server, on its loop; null for one that is closing. */
    static SocketRow server(ServerConnection s, TrackedParams params, long nowNanos, long nowMillis) {
        String list = s.listName();
        if (list == null) {
            return null;
        }
        Channel ch = s.channel();
        ClientConnection link = s.linkedClient();
        PoolSettings settings = s.pool().settings;
        return new SocketRow(true, list, settings.serverUser(), s.pool().key.database(),
                ch == null ? null : ch.remoteAddress(), ch == null ? null : ch.localAddress(),
                wallClock(s.createdNanos(), nowNanos, nowMillis), wallClock(s.assignedNanos(), nowNanos, nowMillis), 0,
                s.closeNeeded, s.id(), link == null ? 0 : link.id(), link == null ? 0 : fd(link.channel()),
                s.backendPid(), value(s, params, "application_name"), s.statements.size(), pending(ch), fd(ch),
                ((long) s.backendPid() << 32) | (s.backendKey() & 0xffffffffL), value(s, params, "client_encoding"),
                value(s, params, "standard_conforming_strings"), value(s, params, "DateStyle"),
                value(s, params, "TimeZone"), TlsInfo.describe(ch));
    }

    /** An admin console connection: a client of database pgbouncer, idle between commands. */
    static SocketRow console(Channel ch, String user, long id, long connectMillis, long cancelKey) {
        return new SocketRow(false, "active", user, "pgbouncer", ch.remoteAddress(), ch.localAddress(), connectMillis,
                System.currentTimeMillis(), 0, false, id, 0, 0, peerPid(ch), "", 0, pending(ch), fd(ch), cancelKey,
                "UTF8", "on", "ISO", "GMT", TlsInfo.describe(ch));
    }

    String type() {
        return server ? "S" : "C";
    }

    /** PgBouncer's pointer column, here the connection id in hex: unique, and what a {@code link} refers to. */
    static String ptr(long id) {
        return id == 0 ? "" : "0x" + Long.toHexString(id);
    }

    /** The address as PgBouncer prints it: the IP, or {@code unix} for a Unix socket. */
    static String addr(SocketAddress address) {
        if (address instanceof InetSocketAddress in) {
            return in.getAddress() != null ? in.getAddress().getHostAddress() : in.getHostString();
        }
        return address instanceof DomainSocketAddress ? "unix" : null;
    }

    /** The port, or for a Unix socket the number in its {@code .s.PGSQL.<port>} name, as PgBouncer shows it. */
    static int port(SocketAddress address) {
        if (address instanceof InetSocketAddress in) {
            return in.getPort();
        }
        if (address instanceof DomainSocketAddress unix) {
            String path = unix.path();
            int dot = path.lastIndexOf('.');
            try {
                return dot < 0 ? 0 : Integer.parseInt(path.substring(dot + 1));
            } catch (NumberFormatException e) {
                return 0;
            }
        }
        return 0;
    }

    private static long wallClock(long nanos, long nowNanos, long nowMillis) {
        return nowMillis - Math.max(0, nowNanos - nanos) / 1_000_000;
    }

    private static String value(ClientConnection c, TrackedParams params, String name) {
        int idx = params.indexOf(name);
        return idx < 0 ? null : c.trackedValue(idx);
    }

    private static String value(ServerConnection s, TrackedParams params, String name) {
        int idx = params.indexOf(name);
        return idx < 0 ? null : s.tracked[idx];
    }

    static int fd(Channel ch) {
        return ch instanceof UnixChannel u && u.isOpen() ? u.fd().intValue() : -1;
    }

    private static long pending(Channel ch) {
        ChannelOutboundBuffer out = ch == null ? null : ch.unsafe().outboundBuffer();
        return out == null ? 0 : out.totalPendingWriteBytes();
    }

    /** SO_PEERCRED's pid over a Unix socket (a getsockopt that does not block), as PgBouncer's remote_pid. */
    private static int peerPid(Channel ch) {
        if (ch instanceof EpollDomainSocketChannel unix && unix.isOpen()) {
            try {
                return unix.peerCredentials().pid();
            } catch (IOException e) {
                return 0;
            }
        }
        return 0;
    }
}
