package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * The client-side timeouts and client caps as a PgBouncer user meets them: the FATAL text and SQLSTATE the client
 * reads, and what PostgreSQL is left with afterwards (no query still running, no lock still held).
 */
@ExtendWith(PgClusterExtension.class)
class ClientTimeoutsTest {
    private static final String ROLE = "pgsvc_timeouts";
    private static final String OTHER = "pgsvc_timeouts_other";

    @BeforeAll
    static void roles() throws SQLException {
        TestRoles.create(ROLE, "tpass");
        TestRoles.create(OTHER, "tpass");
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres")) {
            c.createStatement().execute("CREATE TABLE IF NOT EXISTS timeout_lock (id int PRIMARY KEY)");
            c.createStatement().execute("INSERT INTO timeout_lock VALUES (1) ON CONFLICT DO NOTHING");
            c.createStatement().execute("GRANT ALL ON timeout_lock TO " + ROLE + ", " + OTHER);
        }
    }

    private static PoolerFixture start(Map<String, String> extra, String users) {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.putAll(extra);
        return PoolerFixture.builder(settings).users(users)
                .userlist(PoolerFixture.USERLIST + '"' + ROLE + "\" \"tpass\"\n\"" + OTHER + "\" \"tpass\"\n")
                .start();
    }

    /** The FATAL the pooler sends before it closes: its SQLSTATE and message. */
    private static Map<Character, String> fatal(WireClient c) throws IOException {
        WireClient.Message m = c.read();
        assertEquals('E', m.type(), "an ErrorResponse");
        Map<Character, String> f = m.fields();
        assertEquals("FATAL", f.get('S'));
        assertEquals(-1, c.readByte(), "closed after the FATAL");
        return f;
    }

    private static int running(String role, String query) throws SQLException {
        try (Connection c = PgCluster.shared().primary().connectAdmin();
             PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM pg_stat_activity WHERE usename = ? "
                     + "AND state = 'active' AND query = ?")) {
            ps.setString(1, role);
            ps.setString(2, query);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    @Test
    void anIdleClientIsClosedAfterClientIdleTimeout() throws Exception {
        try (PoolerFixture p = start(Map.of("client_idle_timeout", "0.5"), "");
             WireClient c = WireClient.connect(p.port(), ROLE, "tpass")) {
            assertEquals(List.of("1"), c.query("SELECT 1").orThrow().values());
            Map<Character, String> f = fatal(c);
            assertEquals("08P01", f.get('C'));
            assertEquals("client_idle_timeout", f.get('M'));
        }
    }

    @Test
    void aQueryRunningPastQueryTimeoutIsCancelledAndItsClientClosed() throws Exception {
        String sleep = "SELECT pg_sleep(600)";
        try (PoolerFixture p = start(Map.of("query_timeout", "1"), "");
             WireClient c = WireClient.connect(p.port(), ROLE, "tpass")) {
            c.sendQuery(sleep);
            Map<Character, String> f;
            // The row description may come first; the FATAL is what ends it.
            WireClient.Message m;
            do {
                m = c.read();
            } while (m.type() != 'E');
            f = m.fields();
            assertEquals("08P01", f.get('C'));
            assertEquals("query timeout", f.get('M'));
            Await.until(Duration.ofSeconds(20), "the query no longer runs on PostgreSQL",
                    () -> running(ROLE, sleep) == 0);
        }
    }

    @Test
    void anIdleTransactionIsEndedAndItsLocksFreed() throws Exception {
        try (PoolerFixture p = start(Map.of("idle_transaction_timeout", "0.5"), "");
             WireClient c = WireClient.connect(p.port(), ROLE, "tpass")) {
            c.query("BEGIN").orThrow();
            c.query("SELECT * FROM timeout_lock WHERE id = 1 FOR UPDATE").orThrow();
            Map<Character, String> f = fatal(c);
            assertEquals("08P01", f.get('C'));
            assertEquals("idle transaction timeout", f.get('M'));
            try (WireClient other = WireClient.connect(p.port(), OTHER, "tpass")) {
                assertEquals(List.of("1"), other.query("SET lock_timeout = '20s'; "
                        + "SELECT id FROM timeout_lock WHERE id = 1 FOR UPDATE").orThrow().values());
            }
        }
    }

    @Test
    void aBusyTransactionIsEndedAfterTransactionTimeout() throws Exception {
        try (PoolerFixture p = start(Map.of("transaction_timeout", "1"), "");
             WireClient c = WireClient.connect(p.port(), ROLE, "tpass")) {
            c.query("BEGIN").orThrow();
            // Never idle for long, so only the transaction's age can end it.
            do {
                c.sendQuery("SELECT pg_sleep(0.1)");
                WireClient.Message m;
                do {
                    m = c.read();
                } while (m.type() != 'E' && m.type() != 'Z');
                if (m.type() == 'E') {
                    assertEquals("transaction timeout", m.fields().get('M'));
                    assertEquals("08P01", m.fields().get('C'));
                    break;
                }
            } while (true);
        }
    }

    @Test
    void aUsersQueryTimeoutOverridesTheGlobalOne() throws Exception {
        String sleep = "SELECT pg_sleep(2)";
        try (PoolerFixture p = start(Map.of(), ROLE + " = query_timeout=1\n");
             WireClient limited = WireClient.connect(p.port(), ROLE, "tpass");
             WireClient free = WireClient.connect(p.port(), OTHER, "tpass")) {
            free.sendQuery(sleep);
            limited.sendQuery(sleep);
            WireClient.Message m;
            do {
                m = limited.read();
            } while (m.type() != 'E');
            assertEquals("query timeout", m.fields().get('M'));
            assertEquals(null, free.readResult(true).sqlState(), "the other user's query ran to its end");
        }
    }

    @Test
    void aQueuedClientIsToldAfterQueryWaitNotify() throws Exception {
        try (PoolerFixture p = start(Map.of("query_wait_notify", "1", "default_pool_size", "1",
                "query_wait_timeout", "60"), "");
             WireClient holder = WireClient.connect(p.port(), ROLE, "tpass");
             WireClient queued = WireClient.connect(p.port(), ROLE, "tpass")) {
            holder.query("BEGIN").orThrow();
            queued.sendQuery("SELECT 'served'");
            WireClient.Message notice = queued.read();
            assertEquals('N', notice.type());
            assertEquals("No server connection available in postgres backend, client being queued",
                    notice.fields().get('M'));
            assertEquals("NOTICE", notice.fields().get('S'));
            holder.query("COMMIT").orThrow();
            assertEquals(List.of("served"), queued.readResult(true).orThrow().values());
        }
    }

    @Test
    void clientCapPerDatabase() throws Exception {
        try (PoolerFixture p = start(Map.of("max_db_client_connections", "2"), "")) {
            List<WireClient> open = new ArrayList<>();
            try {
                open.add(WireClient.connect(p.port(), ROLE, "tpass"));
                open.add(WireClient.connect(p.port(), OTHER, "tpass"));
                IOException full = assertThrows(IOException.class, () -> WireClient.connect(p.port(), ROLE, "tpass"));
                assertTrue(full.getMessage().contains("C=08P01, M=client connections exceeded "
                        + "(max_db_client_connections)"), full.getMessage());
                open.remove(0).close();
                // The slot is free once the pooler has seen the close.
                Await.until(Duration.ofSeconds(20), "a client slot freed", () -> {
                    try (WireClient again = WireClient.connect(p.port(), ROLE, "tpass")) {
                        return again.query("SELECT 1").sqlState() == null;
                    } catch (IOException e) {
                        return false;
                    }
                });
            } finally {
                for (WireClient c : open) {
                    c.close();
                }
            }
        }
    }

    @Test
    void clientCapPerUser() throws Exception {
        try (PoolerFixture p = start(Map.of(), OTHER + " = max_user_client_connections=1\n");
             WireClient one = WireClient.connect(p.port(), OTHER, "tpass");
             WireClient another = WireClient.connect(p.port(), ROLE, "tpass")) {
            one.query("SELECT 1").orThrow();
            another.query("SELECT 1").orThrow();
            IOException full = assertThrows(IOException.class, () -> WireClient.connect(p.port(), OTHER, "tpass"));
            assertTrue(full.getMessage().contains("C=08P01, M=client connections exceeded "
                    + "(max_user_client_connections)"), full.getMessage());
        }
    }
}
