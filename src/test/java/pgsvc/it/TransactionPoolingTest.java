package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/** What a pgjdbc user does through pgsvc in transaction mode, against the real primary. */
@ExtendWith(PgClusterExtension.class)
class TransactionPoolingTest {
    private static PoolerFixture pooler;

    @BeforeAll
    static void start() throws Exception {
        var settings = PoolerFixture.defaults();
        settings.put("default_pool_size", "2");
        pooler = PoolerFixture.start(settings);
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement()) {
            st.execute("DROP TABLE IF EXISTS it_tx");
            st.execute("CREATE TABLE it_tx (id int primary key, v text)");
            st.execute("GRANT ALL ON it_tx TO pgsvc_md5, pgsvc_scram");
        }
    }

    @AfterAll
    static void stop() {
        pooler.close();
    }

    private static Connection md5() throws SQLException {
        return pooler.connect("pgsvc_md5", "md5pass");
    }

    @Test
    void simpleAndExtendedQueriesReturnRows() throws Exception {
        Properties simple = new Properties();
        simple.setProperty("preferQueryMode", "simple");
        try (Connection c = pooler.connect("pgsvc", "pgsvc_md5", "md5pass", simple);
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT 40 + 2, current_user, current_database()")) {
            assertTrue(rs.next());
            assertEquals(42, rs.getInt(1));
            assertEquals("pgsvc_md5", rs.getString(2));
            assertEquals("pgsvc", rs.getString(3));
        }
        try (Connection c = md5(); PreparedStatement ps = c.prepareStatement("SELECT ?::int * 2")) {
            for (int i = 0; i < 10; i++) {
                ps.setInt(1, i);
                try (ResultSet rs = ps.executeQuery()) {
                    assertTrue(rs.next());
                    assertEquals(i * 2, rs.getInt(1));
                }
            }
        }
    }

    @Test
    void transactionsCommitAndRollBack() throws Exception {
        try (Connection c = md5(); Statement st = c.createStatement()) {
            st.execute("DELETE FROM it_tx WHERE id IN (1, 2)");
            c.setAutoCommit(false);
            st.execute("INSERT INTO it_tx VALUES (1, 'kept')");
            c.commit();
            st.execute("INSERT INTO it_tx VALUES (2, 'dropped')");
            c.rollback();
            c.setAutoCommit(true);
            try (ResultSet rs = st.executeQuery("SELECT string_agg(v, ',' ORDER BY id) FROM it_tx WHERE id IN (1,2)")) {
                assertTrue(rs.next());
                assertEquals("kept", rs.getString(1));
            }
        }
    }

    @Test
    void anErrorInsideATransactionAbortsItAndTheSessionGoesOn() throws Exception {
        try (Connection c = md5(); Statement st = c.createStatement()) {
            c.setAutoCommit(false);
            st.execute("SELECT 1");
            SQLException e = assertThrows(SQLException.class, () -> st.execute("SELECT 1/0"));
            assertEquals("22012", e.getSQLState());
            SQLException aborted = assertThrows(SQLException.class, () -> st.execute("SELECT 1"));
            assertEquals("25P02", aborted.getSQLState());
            c.rollback();
            c.setAutoCommit(true);
            try (ResultSet rs = st.executeQuery("SELECT 7")) {
                assertTrue(rs.next());
                assertEquals(7, rs.getInt(1));
            }
        }
    }

    @Test
    void copyInAndOut() throws Exception {
        try (Connection c = md5(); Statement st = c.createStatement()) {
            st.execute("DELETE FROM it_tx WHERE id >= 1000");
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            StringBuilder data = new StringBuilder();
            for (int i = 1000; i < 3000; i++) {
                data.append(i).append('\t').append("row ").append(i).append('\n');
            }
            long in = copy.copyIn("COPY it_tx FROM STDIN", new StringReader(data.toString()));
            assertEquals(2000, in);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            long n = copy.copyOut("COPY (SELECT * FROM it_tx WHERE id >= 1000 ORDER BY id) TO STDOUT", out);
            assertEquals(2000, n);
            assertEquals(data.toString(), out.toString(StandardCharsets.UTF_8));
        }
    }

    @Test
    void copyInErrorLeavesTheConnectionUsable() throws Exception {
        try (Connection c = md5(); Statement st = c.createStatement()) {
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            SQLException e = assertThrows(SQLException.class,
                    () -> copy.copyIn("COPY it_tx FROM STDIN", new StringReader("not-a-number\tx\n")));
            assertEquals("22P02", e.getSQLState());
            try (ResultSet rs = st.executeQuery("SELECT 1")) {
                assertTrue(rs.next());
            }
        }
    }

    @Test
    void noticesReachTheClient() throws Exception {
        try (Connection c = md5(); Statement st = c.createStatement()) {
            st.execute("DO $$ BEGIN RAISE NOTICE 'hello from the server'; END $$");
            SQLWarning w = st.getWarnings();
            assertNotNull(w);
            assertEquals("hello from the server", w.getMessage().replaceFirst("^.*?: ", "").trim());
        }
    }

    @Test
    void emptyQueryAndSeveralStatementsInOneQuery() throws Exception {
        Properties simple = new Properties();
        simple.setProperty("preferQueryMode", "simple");
        try (Connection c = pooler.connect("pgsvc", "pgsvc_md5", "md5pass", simple); Statement st = c.createStatement()) {
            assertFalse(st.execute(""));
            assertTrue(st.execute("SELECT 1; SELECT 2, 3; SELECT 'x'"));
            List<String> seen = new ArrayList<>();
            do {
                try (ResultSet rs = st.getResultSet()) {
                    assertTrue(rs.next());
                    seen.add(rs.getString(1));
                }
            } while (st.getMoreResults());
            assertEquals(List.of("1", "2", "x"), seen);
        }
    }

    @Test
    void manyClientsShareTwoServers() throws Exception {
        int clients = 12;
        List<Thread> threads = new ArrayList<>();
        List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        java.util.concurrent.atomic.AtomicInteger done = new java.util.concurrent.atomic.AtomicInteger();
        for (int t = 0; t < clients; t++) {
            Thread th = new Thread(() -> {
                try (Connection c = md5(); PreparedStatement ps = c.prepareStatement("SELECT pg_backend_pid()")) {
                    for (int i = 0; i < 50; i++) {
                        try (ResultSet rs = ps.executeQuery()) {
                            rs.next();
                        }
                        done.incrementAndGet();
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            });
            threads.add(th);
            th.start();
        }
        for (Thread th : threads) {
            th.join(120_000);
        }
        assertEquals(List.of(), errors);
        assertEquals(clients * 50, done.get());
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery(
                     "SELECT count(*) FROM pg_stat_activity WHERE usename = 'pgsvc_md5' AND datname = 'pgsvc'")) {
            rs.next();
            assertTrue(rs.getInt(1) <= 2, "at most default_pool_size server connections, saw " + rs.getInt(1));
        }
    }

    @Test
    void cancelReachesTheRunningQuery() throws Exception {
        try (Connection c = md5(); Statement st = c.createStatement()) {
            Thread canceller = new Thread(() -> {
                try (Connection probe = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
                     Statement ps = probe.createStatement()) {
                    long deadline = System.nanoTime() + 30_000_000_000L;
                    while (System.nanoTime() < deadline) {
                        try (ResultSet rs = ps.executeQuery("SELECT count(*) FROM pg_stat_activity "
                                + "WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'")) {
                            rs.next();
                            if (rs.getInt(1) > 0) {
                                st.cancel();
                                return;
                            }
                        }
                    }
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            canceller.start();
            SQLException e = assertThrows(SQLException.class, () -> st.execute("SELECT pg_sleep(30)"));
            assertEquals("57014", e.getSQLState());
            canceller.join();
            try (ResultSet rs = st.executeQuery("SELECT 1")) {
                assertTrue(rs.next());
            }
        }
    }
}
