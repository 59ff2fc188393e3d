package pgsvc.pooler;

import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetric;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import io.netty.buffer.PooledByteBufAllocatorMetric;

import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.DatabaseEntry;
import pgsvc.pooler.config.PeerEntry;
import pgsvc.pooler.config.UserEntry;

/**
 * The console's SHOW tables beyond pools and databases, with PgBouncer 1.25's columns, order and types
 * ({@code src/admin.c}): CLIENTS, SERVERS, SOCKETS, ACTIVE_SOCKETS, FDS, USERS, LISTS, MEM, PEERS, PEER_POOLS,
 * DNS_ZONES and the HELP text.
 */
final class ConsoleShows {
    static final int TEXT = 25;
    static final int INT4 = 23;
    static final int INT8 = 20;
    static final int BYTEA = 17;

    /** PgBouncer's NOTICE for SHOW HELP: message "Console usage", the commands in the detail. */
    static final String HELP_DETAIL = """

            \tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION
            \tSHOW PEERS|PEER_POOLS
            \tSHOW FDS|SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE
            \tSHOW DNS_HOSTS|DNS_ZONES
            \tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS
            \tSET key = arg
            \tRELOAD
            \tPAUSE [<db>]
            \tRESUME [<db>]
            \tDISABLE <db>
            \tENABLE <db>
            \tRECONNECT [<db>]
            \tKILL [<db>]
            \tKILL_CLIENT <client_id>
            \tSUSPEND
            \tSHUTDOWN
            \tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS
            \tWAIT_CLOSE [<db>]""";

    /** Timestamps as PgBouncer prints them: local time to the second, with the zone's abbreviation. */
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss z");

    private ConsoleShows() {
    }

    private static ConsoleTable socketHeader(boolean debug) {
        List<Object> cols = new ArrayList<>(List.of("type", TEXT, "user", TEXT, "database", TEXT,
                "replication", TEXT, "state", TEXT, "addr", TEXT, "port", INT4, "local_addr", TEXT,
                "local_port", INT4, "connect_time", TEXT, "request_time", TEXT, "wait", INT4, "wait_us", INT4,
                "close_needed", INT4, "ptr", TEXT, "link", TEXT, "remote_pid", INT4, "tls", TEXT,
                "application_name", TEXT, "prepared_statements", INT4, "id", INT4));
        if (debug) {
            for (String name : List.of("recv_pos", "pkt_pos", "pkt_remain", "send_pos", "send_remain", "pkt_avail",
                    "send_avail")) {
                cols.add(name);
                cols.add(INT4);
            }
        }
        return ConsoleTable.typed(cols.toArray());
    }

    /** Per pool (database, user), then PgBouncer's list order, then age. */
    private static List<SocketRow> ordered(List<SocketRow> rows, List<String> lists) {
        List<SocketRow> out = new ArrayList<>();
        for (SocketRow r : rows) {
            if (lists.contains(r.list())) {
                out.add(r);
            }
        }
        out.sort(Comparator.comparing(SocketRow::database).thenComparing(SocketRow::user)
                .thenComparingInt(r -> lists.indexOf(r.list())).thenComparingLong(SocketRow::id));
        return out;
    }

    /** SHOW CLIENTS: clients that are past login; an active client without a server is "idle" (1.25). */
    static ConsoleTable clients(List<SocketRow> rows) {
        ConsoleTable t = socketHeader(false);
        for (SocketRow r : ordered(clientsOnly(rows), List.of("active", "waiting"))) {
            socketRow(t, r, r.list().equals("active") && r.linkId() == 0 ? "idle" : r.list(), false);
        }
        return t;
    }

    /** SHOW SERVERS: active, idle, tested and new (logging in) servers of every pool. */
    static ConsoleTable servers(List<SocketRow> rows) {
        ConsoleTable t = socketHeader(false);
        for (SocketRow r : ordered(serversOnly(rows), List.of("active", "idle", "used", "tested", "new"))) {
            socketRow(t, r, r.list(), false);
        }
        return t;
    }

    /**
     * SHOW SOCKETS, or ACTIVE_SOCKETS (only sockets with data waiting): both sides, with PgBouncer's buffer
     * columns. Netty keeps no PgBouncer-style buffer positions, so those are 0; send_avail is what is queued to
     * be written.
     */
    static ConsoleTable sockets(List<SocketRow> rows, boolean activeOnly) {
        ConsoleTable t = socketHeader(true);
        List<SocketRow> clients = ordered(clientsOnly(rows), List.of("active", "waiting"));
        List<SocketRow> servers = ordered(serversOnly(rows), List.of("active", "idle", "used", "tested", "new"));
        List<SocketRow> login = ordered(clientsOnly(rows), List.of("login"));
        for (List<SocketRow> part : List.of(clients, servers, login)) {
            for (SocketRow r : part) {
                if (!activeOnly || r.pendingBytes() > 0) {
                    socketRow(t, r, socketState(r), true);
                }
            }
        }
        return t;
    }

    private static String socketState(SocketRow r) {
        if (!r.server()) {
            return r.list().equals("login") ? "cl_login" : "cl_" + r.list();
        }
        return r.list().equals("new") ? "sv_login" : "sv_" + r.list();
    }

    private static List<SocketRow> clientsOnly(List<SocketRow> rows) {
        return rows.stream().filter(r -> !r.server()).toList();
    }

    private static List<SocketRow> serversOnly(List<SocketRow> rows) {
        return rows.stream().filter(SocketRow::server).toList();
    }

    private static void socketRow(ConsoleTable t, SocketRow r, String state, boolean debug) {
        List<Object> v = new ArrayList<>(List.of(r.type(), r.user(), r.database(), "none", state));
        v.add(SocketRow.addr(r.remote()));
        v.add(SocketRow.port(r.remote()));
        v.add(SocketRow.addr(r.local()));
        v.add(SocketRow.port(r.local()));
        v.add(time(r.connectMillis()));
        v.add(time(r.requestMillis()));
        v.add(r.waitMicros() / 1_000_000);
        v.add(r.waitMicros() % 1_000_000);
        v.add(r.closeNeeded() ? 1 : 0);
        v.add(SocketRow.ptr(r.id()));
        v.add(SocketRow.ptr(r.linkId()));
        v.add(r.remotePid());
        v.add(r.tls());
        v.add(r.applicationName() == null ? "" : r.applicationName());
        v.add(r.preparedStatements());
        v.add(r.id());
        if (debug) {
            v.addAll(List.of(0, 0, 0, 0, 0, 0, (int) Math.min(Integer.MAX_VALUE, r.pendingBytes())));
        }
        t.row(v.toArray());
    }

    static String time(long epochMillis) {
        return TIME.format(Instant.ofEpochMilli(epochMillis).atZone(ZoneId.systemDefault()));
    }

    /**
     * SHOW FDS (admin only): each client and server socket with its file descriptor, cancel key and the parameters
     * an online restart would need. pgsvc cannot hand sockets to another process (no -R), so no descriptor is passed;
     * the admin console's own connections are left out, as PgBouncer leaves out the admin pool.
     */
    static ConsoleTable fds(List<SocketRow> rows) {
        ConsoleTable t = ConsoleTable.typed("fd", INT4, "task", TEXT, "user", TEXT, "database", TEXT, "addr", TEXT,
                "port", INT4, "cancel", INT8, "link", INT4, "client_encoding", TEXT, "std_strings", TEXT,
                "datestyle", TEXT, "timezone", TEXT, "password", TEXT, "scram_client_key", BYTEA,
                "scram_server_key", BYTEA);
        List<SocketRow> sorted = new ArrayList<>(rows);
        sorted.removeIf(r -> "pgbouncer".equals(r.database()) && !r.server());
        sorted.sort(Comparator.comparingLong(SocketRow::id));
        for (SocketRow r : sorted) {
            t.row(r.fd(), r.server() ? "server" : "client", r.list().equals("login") ? null : r.user(),
                    r.list().equals("login") ? null : r.database(), SocketRow.addr(r.remote()),
                    SocketRow.port(r.remote()), r.cancelKey(), r.linkId() == 0 ? 0 : r.linkFd(), r.clientEncoding(),
                    r.standardConformingStrings(), r.dateStyle(), r.timeZone(), null, null, null);
        }
        return t;
    }

    /**
     * SHOW USERS: the auth_file's users, the [users] section's and pgbouncer. pool_size and reserve_pool_size are
     * text, right-aligned to nine places when the user sets them and empty when not, as PgBouncer prints them.
     */
    static ConsoleTable users(Pooler pooler) {
        Config c = pooler.config();
        ConsoleTable t = ConsoleTable.typed("name", TEXT, "pool_size", TEXT, "reserve_pool_size", TEXT,
                "pool_mode", TEXT, "max_user_connections", INT4, "current_connections", INT4,
                "max_user_client_connections", INT4, "current_client_connections", INT4);
        for (String name : userNames(pooler)) {
            UserEntry u = c.users().get(name);
            Integer size = u == null ? null : u.poolSize();
            Integer reserve = u == null ? null : u.reservePoolSize();
            Integer maxConn = u == null ? null : u.maxUserConnections();
            Integer maxClients = u == null ? null : u.maxUserClientConnections();
            t.row(name, size == null ? "" : String.format("%9d", size),
                    reserve == null ? "" : String.format("%9d", reserve),
                    u == null || u.poolMode() == null ? null : u.poolMode().configName(),
                    maxConn != null ? maxConn : c.getInt("max_user_connections"), pooler.userServerCount(name),
                    maxClients != null ? maxClients : c.getInt("max_user_client_connections"),
                    pooler.userClientCount(name));
        }
        return t;
    }

    private static Set<String> userNames(Pooler pooler) {
        Set<String> names = new TreeSet<>(pooler.config().users().keySet());
        if (pooler.authFile() != null) {
            names.addAll(pooler.authFile().users());
        }
        names.add("pgbouncer");
        return names;
    }

    /** Databases as PgBouncer counts them: the configured ones (not `*`), those made from `*`, and pgbouncer. */
    private static Set<String> databaseNames(Pooler pooler, List<SocketRow> rows) {
        Set<String> names = new TreeSet<>(pooler.config().databases().keySet());
        names.remove(DatabaseEntry.WILDCARD);
        for (SocketRow r : rows) {
            if (!r.list().equals("login")) {
                names.add(r.database());
            }
        }
        names.add("pgbouncer");
        return names;
    }

    /**
     * SHOW LISTS: PgBouncer's list sizes. pgsvc allocates connections as it needs them, so the free_* lists are
     * empty; the pools include the console's, as PgBouncer's admin pool.
     */
    static ConsoleTable lists(Pooler pooler, List<SocketRow> rows) {
        long clients = rows.stream().filter(r -> !r.server()).count();
        long login = rows.stream().filter(r -> !r.server() && r.list().equals("login")).count();
        long servers = rows.stream().filter(SocketRow::server).count();
        ConsoleTable t = ConsoleTable.typed("list", TEXT, "items", INT4);
        t.row("databases", databaseNames(pooler, rows).size());
        t.row("users", userNames(pooler).size());
        t.row("peers", pooler.config().peers().size());
        t.row("pools", pooler.poolCount() + 1);
        t.row("peer_pools", pooler.peering().poolCount());
        t.row("free_clients", 0);
        t.row("used_clients", clients);
        t.row("login_clients", login);
        t.row("free_servers", 0);
        t.row("used_servers", servers);
        t.row("dns_names", pooler.dns().hosts().size());
        t.row("dns_zones", 0);
        t.row("dns_queries", 0);
        t.row("dns_pending", 0);
        return t;
    }

    /**
     * SHOW MEM: PgBouncer lists its slab caches. pgsvc has no slabs: each cache row counts the live objects in
     * {@code used} with no per-object size it could vouch for (0), and {@code iobuf_cache} is Netty's pooled buffer
     * memory, in chunks of {@code size} bytes, {@code memtotal} bytes in use.
     */
    static ConsoleTable mem(Pooler pooler, List<SocketRow> rows) {
        ConsoleTable t = ConsoleTable.typed("name", TEXT, "size", INT4, "used", INT4, "free", INT4,
                "memtotal", INT4);
        t.row("user_cache", 0, userNames(pooler).size(), 0, 0);
        t.row("db_cache", 0, databaseNames(pooler, rows).size(), 0, 0);
        t.row("peer_cache", 0, pooler.config().peers().size(), 0, 0);
        t.row("pool_cache", 0, pooler.poolCount() + 1, 0, 0);
        t.row("server_cache", 0, rows.stream().filter(SocketRow::server).count(), 0, 0);
        t.row("client_cache", 0, rows.stream().filter(r -> !r.server()).count(), 0, 0);
        t.row("server_prepared_statement_cache", 0, pooler.preparedStatements().size(), 0, 0);
        int chunk = 0;
        long used = 0;
        if (ByteBufAllocator.DEFAULT instanceof ByteBufAllocatorMetricProvider provider) {
            ByteBufAllocatorMetric metric = provider.metric();
            used = metric.usedDirectMemory() + metric.usedHeapMemory();
            if (metric instanceof PooledByteBufAllocatorMetric pooled) {
                chunk = pooled.chunkSize();
            }
        }
        t.row("iobuf_cache", chunk, chunk == 0 ? 0 : (used + chunk - 1) / chunk, 0,
                (int) Math.min(Integer.MAX_VALUE, used));
        return t;
    }

    /** SHOW PEERS: the [peers] section. */
    static ConsoleTable peers(Config c) {
        ConsoleTable t = ConsoleTable.typed("peer_id", INT4, "host", TEXT, "port", INT4, "pool_size", INT4);
        for (PeerEntry p : c.peers().values()) {
            t.row(p.id(), p.host(), p.port(), p.poolSize() != null ? p.poolSize() : c.defaultPoolSize());
        }
        return t;
    }

    /**
     * SHOW PEER_POOLS: one row per peer that a cancel request has been forwarded to, made on first use as in
     * PgBouncer: requests sent and awaiting the peer (cl_active_cancel_req, with their connections in
     * sv_active_cancel), requests not sent yet (cl_waiting_cancel_req) and connections being opened (sv_login).
     */
    static ConsoleTable peerPools(Pooler pooler) {
        ConsoleTable t = ConsoleTable.typed("peer_id", INT4, "cl_active_cancel_req", INT4, "cl_waiting_cancel_req",
                INT4, "sv_active_cancel", INT4, "sv_login", INT4);
        for (Object[] row : pooler.peering().rows()) {
            t.row(row);
        }
        return t;
    }

    /** SHOW DNS_ZONES: zones are watched only with c-ares and dns_zone_check_period; pgsvc does not, so no rows. */
    static ConsoleTable dnsZones() {
        return ConsoleTable.typed("zonename", TEXT, "serial", INT8, "count", INT4);
    }
}
