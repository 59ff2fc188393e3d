package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.function.Executable;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

import pgsvc.pooler.Dns;
import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * A [databases] host name that stops resolving while its pool is in use, and resolves again. As in PgBouncer:
 * server connections that exist are not dropped because DNS fails, so clients go on working on them; a client that
 * needs a new one gets an error instead of a hang (the one already waiting when the lookup fails at its
 * query_wait_timeout, the ones after it at once, with the cached reason); the failure is kept for dns_nxdomain_ttl,
 * after which the pool connects again by itself. SHOW POOLS and pg_stat_activity agree throughout.
 *
 * <p>The name is served by a resolver the test controls, put into the running pooler through {@link Dns#useLookup}.
 * dns_max_ttl is 0 so that every new server connection asks it: the switch applies at the next connect (how long an
 * answer is cached is DnsUnitTest's subject). The role is this class's own, so pg_stat_activity counts only its pool.
 */
@ExtendWith(PgClusterExtension.class)
class DnsFailureTest {
    private static final String NAME = "pg-primary.test";
    private static final String DB = "byname";
    private static final String ROLE = "pgsvc_dnsfail";
    private static final String PASSWORD = "dnsfailpass";
    private static final int POOL_SIZE = 2;
    private static final long NXDOMAIN_TTL_SECONDS = 2;
    private static final Duration DEADLINE = Duration.ofSeconds(30);
    private static final String CACHED_ERROR =
            "server login has been failing, cached error: server DNS lookup failed (server_login_retry)";

    /** {@link #NAME} is the shared primary's 127.0.0.1 while {@code resolves}, else not found; other names: the JDK. */
    private static final class Zone implements Dns.Lookup {
        volatile boolean resolves = true;
        final AtomicInteger answered = new AtomicInteger();
        final AtomicInteger refused = new AtomicInteger();

        @Override
        public InetAddress[] lookup(String host) throws UnknownHostException {
            if (!host.equals(NAME)) {
                return InetAddress.getAllByName(host);
            }
            if (!resolves) {
                refused.incrementAndGet();
                throw new UnknownHostException(host + ": Name or service not known");
            }
            answered.incrementAndGet();
            return new InetAddress[] {InetAddress.getByAddress(NAME, new byte[] {127, 0, 0, 1})};
        }
    }

    @BeforeAll
    static void createRole() throws SQLException {
        TestRoles.create(ROLE, PASSWORD);
    }

    @Test
    void serversThatExistKeepWorkingNewOnesFailClearlyAndThePoolRecoversOnceTheNameResolves() throws Exception {
        Await.until(DEADLINE, "no backend of " + ROLE + " is left from an earlier run",
                () -> TestRoles.backends(ROLE) == 0);
        var settings = PoolerFixture.defaults();
        settings.put("admin_users", PgCluster.SUPERUSER);
        settings.put("pool_mode", "transaction");
        settings.put("default_pool_size", Integer.toString(POOL_SIZE));
        settings.put("dns_max_ttl", "0");
        settings.put("dns_nxdomain_ttl", Long.toString(NXDOMAIN_TTL_SECONDS));
        settings.put("server_login_retry", "0.5");
        settings.put("query_wait_timeout", "2");
        Zone zone = new Zone();
        try (PoolerFixture p = PoolerFixture.builder(settings)
                .databases(DB + " = host=" + NAME + " port=" + PgCluster.shared().primary().port() + " dbname="
                        + PgCluster.DATABASE + "\n")
                .userlist(TestRoles.userlistWith(ROLE, PASSWORD)).start()) {
            p.pgsvc().pooler().dns().useLookup(zone);

            // 1. Two clients, one inside a transaction while the other runs: the pool opens both its servers.
            Connection a = connect(p);
            Connection b = connect(p);
            a.setAutoCommit(false);
            assertEquals("a1", query(a, "SELECT 'a1'"));
            assertEquals("b1", query(b, "SELECT 'b1'"));
            assertEquals(POOL_SIZE, zone.answered.get(), "each new server connection asked for the name");
            assertEquals("127.0.0.1:0", dnsHost(p).get("addrs"));
            awaitCountsAgree(p, POOL_SIZE);

            // 2. The name stops resolving. The open transaction goes on on its server; the other client, and one
            // that logs in now, are served by the pool's servers: nothing needed a new one, nothing asked.
            zone.resolves = false;
            assertEquals("a2", query(a, "SELECT 'a2'"));
            a.commit();
            a.setAutoCommit(true);
            assertEquals("b2", query(b, "SELECT 'b2'"));
            Connection c = connect(p);
            assertEquals("c1", query(c, "SELECT 'c1'"));
            assertEquals(0, zone.refused.get(), "no client needed a new server connection");
            awaitCountsAgree(p, POOL_SIZE);

            // RECONNECT closes the idle servers: the next client to run needs a new one, which cannot be had. It
            // is the one waiting when the lookup fails, and waits out query_wait_timeout as in PgBouncer.
            console(p, "RECONNECT " + DB);
            awaitCountsAgree(p, 0);
            ServerErrorMessage waited = fatal(() -> query(b, "SELECT 'b3'"));
            assertEquals("08P01", waited.getSQLState(), waited::toString);
            assertEquals("query_wait_timeout", waited.getMessage(), waited::toString);
            assertTrue(zone.refused.get() >= 1, "the pool asked for the name and was refused");

            // A client that needs a server now, and one that logs in and asks, are told why at once.
            ServerErrorMessage told = fatal(() -> query(c, "SELECT 'c2'"));
            assertEquals("08P01", told.getSQLState(), told::toString);
            assertEquals(CACHED_ERROR, told.getMessage(), told::toString);
            ServerErrorMessage newcomer = fatal(() -> {
                try (Connection d = connect(p)) {
                    query(d, "SELECT 'd1'");
                }
            });
            assertEquals("08P01", newcomer.getSQLState(), newcomer::toString);
            assertEquals(CACHED_ERROR, newcomer.getMessage(), newcomer::toString);

            // 3. SHOW DNS_HOSTS has the failure (no addresses) for at most dns_nxdomain_ttl. SHOW POOLS has no
            // server and no waiting client, as PostgreSQL has no backend, and of the clients only `a` is left: the
            // ones that were told are gone, nothing leaked.
            Map<String, String> failed = dnsHost(p);
            assertEquals("", failed.get("addrs"), failed::toString);
            long ttl = Long.parseLong(failed.get("ttl"));
            assertTrue(ttl >= 0 && ttl <= NXDOMAIN_TTL_SECONDS, failed::toString);
            awaitCountsAgree(p, 0);
            Await.until(DEADLINE, "SHOW CLIENTS lists only the client that was not told", () -> clients(p) == 1);
            assertEquals(0, showPools(p).get("cl_waiting"));

            // 4. The name resolves again. Once the cached failure is over, a client's attempt makes the pool
            // connect by itself (no RELOAD, no RECONNECT), and then every client is served.
            zone.resolves = true;
            Await.until(DEADLINE, "a new client is served through " + NAME + " again", () -> {
                try (Connection d = connect(p)) {
                    return "d2".equals(query(d, "SELECT 'd2'"));
                }
            });
            assertEquals("a3", query(a, "SELECT 'a3'"));
            assertEquals(List.of("0:0", "0:1", "0:2", "1:0", "1:1", "1:2", "2:0", "2:1", "2:2", "3:0", "3:1", "3:2"),
                    concurrentClients(p, 4, 3));
            assertEquals("127.0.0.1:0", dnsHost(p).get("addrs"));
            a.close();
            awaitCountsAgree(p, -1);
            Await.until(DEADLINE, "SHOW CLIENTS lists no client of the pool", () -> clients(p) == 0);
            Map<String, Integer> after = showPools(p);
            assertEquals(0, after.get("cl_active") + after.get("cl_waiting"), after::toString);
        }
        Await.until(DEADLINE, "pgsvc's servers are gone with it", () -> TestRoles.backends(ROLE) == 0);
    }

    /**
     * Waits until SHOW POOLS counts {@code servers} server connections for this class's pool (any number from 1 to
     * the pool size when -1), none logging in, and PostgreSQL has exactly as many backends of the role.
     */
    private static void awaitCountsAgree(PoolerFixture p, int servers) {
        String what = servers < 0 ? "between 1 and " + POOL_SIZE : Integer.toString(servers);
        Await.until(DEADLINE, "SHOW POOLS and pg_stat_activity both count " + what + " servers", () -> {
            Map<String, Integer> pool = showPools(p);
            int counted = pool.get("sv_active") + pool.get("sv_idle") + pool.get("sv_used") + pool.get("sv_tested");
            boolean expected = servers < 0 ? counted >= 1 && counted <= POOL_SIZE : counted == servers;
            return expected && pool.get("sv_login") == 0 && counted == TestRoles.backends(ROLE);
        });
    }

    /** {@code clients} clients at once, each running {@code queries} queries; their answers "client:query". */
    private static List<String> concurrentClients(PoolerFixture p, int clients, int queries) throws Exception {
        ExecutorService threads = Executors.newFixedThreadPool(clients);
        try {
            List<Future<List<String>>> results = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                int n = i;
                results.add(threads.submit(() -> {
                    List<String> seen = new ArrayList<>();
                    try (Connection c = connect(p)) {
                        for (int q = 0; q < queries; q++) {
                            seen.add(query(c, "SELECT '" + n + ":" + q + "'"));
                        }
                    }
                    return seen;
                }));
            }
            List<String> all = new ArrayList<>();
            for (Future<List<String>> r : results) {
                all.addAll(r.get(60, TimeUnit.SECONDS));
            }
            return all;
        } finally {
            threads.shutdownNow();
        }
    }

    private static Connection connect(PoolerFixture p) throws SQLException {
        return p.connect(DB, ROLE, PASSWORD, new Properties());
    }

    /** The first column of the first row. */
    private static String query(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next(), sql);
            return rs.getString(1);
        }
    }

    private static ServerErrorMessage fatal(Executable action) {
        PSQLException e = assertThrows(PSQLException.class, action);
        ServerErrorMessage m = e.getServerErrorMessage();
        assertNotNull(m, () -> "expected an ErrorResponse, got a client-side error: " + e);
        assertEquals("FATAL", m.getSeverity(), m::toString);
        return m;
    }

    private static void console(PoolerFixture p, String command) throws SQLException {
        try (Connection c = ConsoleQueries.console(p); Statement st = c.createStatement()) {
            st.execute(command);
        }
    }

    /** SHOW DNS_HOSTS's row for {@link #NAME}: hostname, ttl, addrs. */
    private static Map<String, String> dnsHost(PoolerFixture p) throws SQLException {
        try (Connection c = ConsoleQueries.console(p); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW DNS_HOSTS")) {
            while (rs.next()) {
                if (rs.getString("hostname").equals(NAME)) {
                    Map<String, String> row = new LinkedHashMap<>();
                    for (String column : new String[] {"hostname", "ttl", "addrs"}) {
                        row.put(column, rs.getString(column));
                    }
                    return row;
                }
            }
        }
        throw new AssertionError("SHOW DNS_HOSTS does not list " + NAME);
    }

    /** SHOW CLIENTS's rows for this class's pool. */
    private static int clients(PoolerFixture p) throws SQLException {
        int n = 0;
        try (Connection c = ConsoleQueries.console(p); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW CLIENTS")) {
            while (rs.next()) {
                if (rs.getString("database").equals(DB) && rs.getString("user").equals(ROLE)) {
                    n++;
                }
            }
        }
        return n;
    }

    /** The counts of SHOW POOLS for this class's pool (all zero when it is not listed). */
    private static Map<String, Integer> showPools(PoolerFixture p) throws SQLException {
        return ConsoleQueries.poolCounts(p, DB::equals, ROLE);
    }
}
