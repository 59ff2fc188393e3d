package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgClusterExtension;

/**
 * RELOAD as an operator uses it: a changed pool size takes effect for clients already waiting, a broken file
 * leaves the running configuration in place, server_fast_close moves session clients off a changed database, and
 * SHOW POOLS goes on counting the clients of a database that moved.
 */
@ExtendWith(PgClusterExtension.class)
class ReloadTest {

    private static String one(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static void rewrite(PoolerFixture p, String from, String to) throws Exception {
        Path ini = p.dir().resolve("pooler.ini");
        String text = Files.readString(ini);
        assertTrue(text.contains(from), text);
        Files.writeString(ini, text.replace(from, to));
    }

    @Test
    void aLargerPoolSizeServesClientsAlreadyWaiting() throws Exception {
        Map<String, String> s = PoolerFixture.defaults();
        s.put("default_pool_size", "1");
        s.put("query_wait_timeout", "60");
        s.put("admin_users", "postgres");
        try (PoolerFixture p = PoolerFixture.start(s);
             Connection holder = p.connect("postgres", "postgres");
             Connection waiter = p.connect("postgres", "postgres")) {
            holder.setAutoCommit(false);
            one(holder, "SELECT 1");
            CompletableFuture<String> waiting = CompletableFuture.supplyAsync(() -> {
                try {
                    return one(waiter, "SELECT 'served'");
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            Await.until(Duration.ofSeconds(20), "the second client waits for a server",
                    () -> ConsoleQueries.poolColumn(p, "pgsvc", "postgres", "cl_waiting") == 1);
            rewrite(p, "default_pool_size = 1", "default_pool_size = 2");
            assertTrue(p.pgsvc().reload());
            assertEquals("served", waiting.get(30, TimeUnit.SECONDS));
            holder.rollback();
        }
    }

    @Test
    void aBrokenFileLeavesTheRunningConfigurationInPlace() throws Exception {
        Map<String, String> s = PoolerFixture.defaults();
        s.put("default_pool_size", "3");
        s.put("admin_users", "postgres");
        try (PoolerFixture p = PoolerFixture.start(s)) {
            rewrite(p, "default_pool_size = 3", "default_pool_size = 5\nno_such_setting = 1");
            assertFalse(p.pgsvc().reload());
            try (Connection c = p.connect("postgres", "postgres")) {
                assertEquals("1", one(c, "SELECT 1"));
            }
            assertEquals("3", ConsoleQueries.config(p, "default_pool_size"));
        }
    }

    /**
     * A RELOAD that moves a database retires its pool, and the next transaction makes a new one; clients idle since
     * before count in the new pool's row until their own next transaction moves them, as they would in PgBouncer's
     * one pool per database and user.
     */
    @Test
    void clientsIdleAcrossAReloadThatMovesTheirDatabaseStayCounted() throws Exception {
        Map<String, String> s = PoolerFixture.defaults();
        s.put("admin_users", "postgres");
        try (PoolerFixture p = PoolerFixture.start(s)) {
            try (Connection a = p.connect("postgres", "postgres"); Connection b = p.connect("postgres", "postgres");
                 Connection c = p.connect("postgres", "postgres")) {
                assertEquals("pgsvc", one(a, "SELECT current_database()"));
                assertEquals(3, ConsoleQueries.poolColumn(p, "pgsvc", "postgres", "cl_active"));
                rewrite(p, "dbname=pgsvc", "dbname=postgres");
                assertTrue(p.pgsvc().reload());
                assertEquals("postgres", one(a, "SELECT current_database()"), "a's transaction is in the new pool");
                assertEquals(3, ConsoleQueries.poolColumn(p, "pgsvc", "postgres", "cl_active"),
                        "b and c, idle since before the RELOAD, are counted too");
                assertEquals("postgres", one(b, "SELECT current_database()"));
                assertEquals(3, ConsoleQueries.poolColumn(p, "pgsvc", "postgres", "cl_active"));
            }
            Await.until(Duration.ofSeconds(20), "the clients that left are counted nowhere",
                    () -> ConsoleQueries.poolColumn(p, "pgsvc", "postgres", "cl_active") == 0);
        }
    }

    @Test
    void serverFastCloseEndsSessionsOnAChangedDatabase() throws Exception {
        Map<String, String> s = PoolerFixture.defaults();
        s.put("pool_mode", "session");
        s.put("server_fast_close", "1");
        try (PoolerFixture p = PoolerFixture.start(s);
             Connection c = p.connect("pgsvc", "postgres", "postgres", new Properties())) {
            assertEquals("pgsvc", one(c, "SELECT current_database()"));
            rewrite(p, "dbname=pgsvc", "dbname=postgres");
            assertTrue(p.pgsvc().reload());
            SQLException e = assertThrows(SQLException.class, () -> {
                // The janitor ends the session between transactions; until then queries may still succeed.
                while (true) {
                    one(c, "SELECT 1");
                }
            });
            assertTrue(e.getMessage().contains("database configuration changed"), e.getMessage());
            try (Connection again = p.connect("pgsvc", "postgres", "postgres", new Properties())) {
                assertEquals("postgres", one(again, "SELECT current_database()"));
            }
        }
    }
}
