package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.ProcResult;
import pgsvc.testing.Tools;

/**
 * The admin console as operators and exporters use it: SHOW POOLS/DATABASES/CONFIG/STATE with PgBouncer's columns
 * and client counts, waiting clients served in arrival order, and who may do what.
 */
@ExtendWith(PgClusterExtension.class)
class ConsoleTest {
    private static final Duration DEADLINE = Duration.ofSeconds(20);
    private static PoolerFixture pgsvc;

    @BeforeAll
    static void start() throws Exception {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("default_pool_size", "1");
        settings.put("admin_users", "postgres");
        settings.put("stats_users", "pgsvc_scram");
        pgsvc = PoolerFixture.start(settings);
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement()) {
            st.execute("DROP TABLE IF EXISTS console_order");
            st.execute("CREATE TABLE console_order (id serial primary key, who text)");
            st.execute("GRANT ALL ON console_order, console_order_id_seq TO pgsvc_md5");
        }
    }

    @AfterAll
    static void stop() {
        pgsvc.close();
    }

    private static ProcResult console(String user, String password, String command) {
        return Tools.psql(pgsvc.port(), user, password, "pgbouncer", command);
    }

    private static ProcResult admin(String command) {
        return console("postgres", "postgres", command);
    }

    private static String header(String command) {
        ProcResult r = Tools.run(Duration.ofSeconds(30), Map.of("PGPASSWORD", "postgres"), "psql", "-X", "-A",
                "-h", "127.0.0.1", "-p", Integer.toString(pgsvc.port()), "-U", "postgres", "-c", command, "pgbouncer");
        return r.stdout().lines().findFirst().orElse("");
    }

    @Test
    void showCommandsHavePgBouncersColumns() {
        assertEquals("database|user|cl_active|cl_waiting|cl_active_cancel_req|cl_waiting_cancel_req|sv_active|"
                + "sv_active_cancel|sv_being_canceled|sv_idle|sv_used|sv_tested|sv_login|maxwait|maxwait_us|"
                + "pool_mode|load_balance_hosts", header("SHOW POOLS"));
        assertEquals("name|host|port|database|force_user|pool_size|min_pool_size|reserve_pool_size|"
                + "server_lifetime|pool_mode|load_balance_hosts|max_connections|current_connections|"
                + "max_client_connections|current_client_connections|paused|disabled", header("SHOW DATABASES"));
        assertEquals("key|value|default|changeable", header("SHOW CONFIG"));
        assertTrue(admin("SHOW CONFIG").stdout().contains("default_pool_size|1|20|yes"));
        assertTrue(admin("SHOW STATE").stdout().contains("paused|no"));
    }

    /** As PgBouncer: the `*` entry is not a database of SHOW DATABASES; a database it made up is, once in use. */
    @Test
    void showDatabasesListsTheDatabasesTheWildcardMadeNotTheWildcard() throws Exception {
        List<String> before = databaseNames();
        assertTrue(before.contains("pgsvc") && before.contains("pgbouncer"), before::toString);
        assertFalse(before.contains("*"), before::toString);
        assertFalse(before.contains("postgres"), before::toString);
        try (Connection c = pgsvc.connect("postgres", "pgsvc_md5", "md5pass", new Properties());
             Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT current_database()")) {
            assertTrue(rs.next());
            assertEquals("postgres", rs.getString(1));
            String row = admin("SHOW DATABASES").stdout().lines().filter(l -> l.startsWith("postgres|"))
                    .findFirst().orElse("");
            // name|host|port|database|...: the autodb has the `*` entry's host and port and its own name.
            assertTrue(row.startsWith("postgres|127.0.0.1|" + PgCluster.shared().primary().port() + "|postgres|"),
                    () -> admin("SHOW DATABASES").stdout());
        }
        assertFalse(databaseNames().contains("*"));
    }

    /** The name column of SHOW DATABASES (psql -A -t: rows only, columns split by |). */
    private static List<String> databaseNames() {
        return admin("SHOW DATABASES").stdout().lines().filter(l -> l.contains("|"))
                .map(l -> l.substring(0, l.indexOf('|'))).toList();
    }

    @Test
    void waitingClientsAreServedInArrivalOrder() throws Exception {
        try (Connection holder = pgsvc.connect("pgsvc_md5", "md5pass"); Statement hold = holder.createStatement()) {
            holder.setAutoCommit(false);
            hold.execute("SELECT 1");
            List<Thread> waiters = new ArrayList<>();
            for (int i = 1; i <= 3; i++) {
                String who = "w" + i;
                Thread t = new Thread(() -> {
                    try (Connection c = pgsvc.connect("pgsvc_md5", "md5pass"); Statement st = c.createStatement()) {
                        st.execute("INSERT INTO console_order (who) VALUES ('" + who + "')");
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
                t.start();
                waiters.add(t);
                int queued = i;
                // The next waiter starts only once this one is in the queue, so the arrival order is known.
                Await.until(Duration.ofSeconds(20), who + " queued", () -> admin("SHOW POOLS").stdout().lines()
                        .anyMatch(l -> l.startsWith("pgsvc|pgsvc_md5|") && l.split("\\|")[3].equals("" + queued)));
            }
            holder.rollback();
            for (Thread t : waiters) {
                t.join(60_000);
            }
        }
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement();
             var rs = st.executeQuery("SELECT string_agg(who, ',' ORDER BY id) FROM console_order")) {
            rs.next();
            assertEquals("w1,w2,w3", rs.getString(1));
        }
    }

    /**
     * cl_active as PgBouncer counts it, and pgbouncer_exporter graphs it: every logged-in client of the pool that does
     * not wait for a server, from its login on, idle or in a transaction; a client whose query waits for the busy pool
     * is in cl_waiting instead, and a client that leaves is in neither.
     */
    @Test
    void everyLoggedInClientIsActiveUnlessItWaitsForAServer() throws Exception {
        int n = 4;
        List<WireClient> clients = new ArrayList<>();
        try (Connection console = ConsoleQueries.console(pgsvc)) {
            try {
                for (int i = 0; i < n; i++) {
                    clients.add(WireClient.connect(pgsvc.port(), "pgsvc_scram", "scrampass"));
                }
                assertClients(console, n, 0, "logged in, no query yet");
                for (WireClient c : clients) {
                    assertEquals(List.of("1"), c.query("SELECT 1").orThrow().values());
                }
                assertClients(console, n, 0, "each has run a query");

                // default_pool_size=1: the first client's open transaction holds the pool's one server.
                WireClient holder = clients.get(0);
                holder.query("BEGIN").orThrow();
                holder.query("SELECT 1").orThrow();
                assertClients(console, n, 0, "one holds a transaction, the others are idle");
                assertEquals(1, scramPool(console).get("sv_active"));

                clients.get(1).sendQuery("SELECT 2");
                clients.get(2).sendQuery("SELECT 3");
                Await.until(DEADLINE, "two queries wait for the busy server",
                        () -> scramPool(console).get("cl_waiting") == 2);
                assertClients(console, n - 2, 2, "two wait");

                holder.query("COMMIT").orThrow();
                assertEquals(List.of("2"), clients.get(1).readResult(true).orThrow().values());
                assertEquals(List.of("3"), clients.get(2).readResult(true).orThrow().values());
                assertClients(console, n, 0, "the waiters were served");
            } finally {
                for (WireClient c : clients) {
                    c.close();
                }
            }
            Await.until(DEADLINE, "the clients that left are counted nowhere", () -> {
                Map<String, Integer> pool = scramPool(console);
                return pool.get("cl_active") == 0 && pool.get("cl_waiting") == 0;
            });
        }
    }

    /** PgBouncer lists the console's own pool, pgbouncer/pgbouncer in statement mode, whose clients are consoles. */
    @Test
    void theConsolesOwnPoolCountsTheConsoles() throws Exception {
        try (Connection console = ConsoleQueries.console(pgsvc)) {
            // psql consoles of other tests may still be closing.
            Await.until(DEADLINE, "only this console is connected",
                    () -> pool(console, "pgbouncer", "pgbouncer").get("cl_active") == 1);
            try (Connection second = ConsoleQueries.console(pgsvc)) {
                Map<String, Integer> both = pool(console, "pgbouncer", "pgbouncer");
                assertEquals(2, both.get("cl_active"), both::toString);
                assertEquals(0, both.get("cl_waiting") + both.get("sv_active") + both.get("sv_idle"), both::toString);
            }
            Await.until(DEADLINE, "the second console is gone",
                    () -> pool(console, "pgbouncer", "pgbouncer").get("cl_active") == 1);
        }
        List<String> row = admin("SHOW POOLS").stdout().lines().filter(l -> l.startsWith("pgbouncer|pgbouncer|"))
                .toList();
        assertEquals(1, row.size(), row::toString);
        assertTrue(row.get(0).endsWith("|statement|"), row::toString);
    }

    private static void assertClients(Connection console, int active, int waiting, String when) throws SQLException {
        Map<String, Integer> pool = scramPool(console);
        assertEquals(active, pool.get("cl_active"), () -> when + ": " + pool);
        assertEquals(waiting, pool.get("cl_waiting"), () -> when + ": " + pool);
    }

    private static Map<String, Integer> scramPool(Connection console) throws SQLException {
        return pool(console, "pgsvc", "pgsvc_scram");
    }

    /** The counts of one SHOW POOLS row; the pool must be listed. */
    private static Map<String, Integer> pool(Connection console, String database, String user) throws SQLException {
        try (Statement st = console.createStatement(); ResultSet rs = st.executeQuery("SHOW POOLS")) {
            while (rs.next()) {
                if (rs.getString("database").equals(database) && rs.getString("user").equals(user)) {
                    Map<String, Integer> counts = new HashMap<>();
                    for (String column : new String[] {"cl_active", "cl_waiting", "sv_active", "sv_idle"}) {
                        counts.put(column, rs.getInt(column));
                    }
                    return counts;
                }
            }
        }
        throw new AssertionError("SHOW POOLS has no " + database + "/" + user);
    }

    @Test
    void statsUsersMayOnlyLookAndOthersMayNotEnter() {
        ProcResult look = console("pgsvc_scram", "scrampass", "SHOW VERSION");
        assertTrue(look.stdout().startsWith("PgBouncer"), look.describe());
        ProcResult pause = console("pgsvc_scram", "scrampass", "PAUSE");
        assertTrue(pause.stderr().contains("admin access needed"), pause.describe());
        ProcResult other = console("pgsvc_md5", "md5pass", "SHOW VERSION");
        assertTrue(other.stderr().contains("not allowed"), other.describe());
    }
}
