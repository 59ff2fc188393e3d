package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgClusterExtension;

/**
 * Pool sizing beyond default_pool_size, observed from PostgreSQL: min_pool_size kept warm, server_idle_timeout,
 * the reserve pool after reserve_pool_timeout, and max_db_connections / max_user_connections shared by pools.
 * Each test uses its own role so that pg_stat_activity counts only its pool's servers.
 */
@ExtendWith(PgClusterExtension.class)
class ServerLimitsTest {
    private static final String[] ROLES = {"pgsvc_lim_min", "pgsvc_lim_idle", "pgsvc_lim_res", "pgsvc_lim_a",
        "pgsvc_lim_b"};

    @BeforeAll
    static void roles() throws SQLException {
        for (String r : ROLES) {
            TestRoles.create(r, "limpass");
        }
    }

    private static PoolerFixture start(Map<String, String> extra) {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.putAll(extra);
        StringBuilder userlist = new StringBuilder(PoolerFixture.USERLIST);
        for (String r : ROLES) {
            userlist.append('"').append(r).append("\" \"limpass\"\n");
        }
        return PoolerFixture.builder(settings).userlist(userlist.toString()).start();
    }

    private static void query(PoolerFixture p, String role, String sql) throws SQLException {
        try (Connection c = p.connect(role, "limpass"); Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    @Test
    void minPoolSizeIsKeptWarm() throws Exception {
        try (PoolerFixture p = start(Map.of("min_pool_size", "3", "default_pool_size", "5"))) {
            query(p, "pgsvc_lim_min", "SELECT 1");
            Await.until(Duration.ofSeconds(20), "3 servers kept open",
                    () -> TestRoles.backends("pgsvc_lim_min") == 3);
        }
    }

    @Test
    void idleServersCloseAfterServerIdleTimeout() throws Exception {
        try (PoolerFixture p = start(Map.of("server_idle_timeout", "0.5"))) {
            query(p, "pgsvc_lim_idle", "SELECT 1");
            assertTrue(TestRoles.backends("pgsvc_lim_idle") >= 1);
            Await.until(Duration.ofSeconds(20), "the idle server closed",
                    () -> TestRoles.backends("pgsvc_lim_idle") == 0);
        }
    }

    @Test
    void theReservePoolServesAClientThatWaitedTooLong() throws Exception {
        try (PoolerFixture p = start(Map.of("default_pool_size", "1", "reserve_pool_size", "1",
                "reserve_pool_timeout", "0.3", "query_wait_timeout", "60"));
             Connection holder = p.connect("pgsvc_lim_res", "limpass");
             Statement hold = holder.createStatement()) {
            holder.setAutoCommit(false);
            hold.execute("SELECT 1");
            // The only pool server is in the holder's transaction; the second client gets the reserve server.
            query(p, "pgsvc_lim_res", "SELECT 2");
            assertEquals(2, TestRoles.backends("pgsvc_lim_res"));
            holder.rollback();
        }
    }

    @Test
    void maxDbConnectionsIsSharedByTheDatabasesPools() throws Exception {
        try (PoolerFixture p = start(Map.of("default_pool_size", "4", "max_db_connections", "2"))) {
            AtomicBoolean running = new AtomicBoolean(true);
            AtomicInteger max = new AtomicInteger();
            AtomicInteger done = new AtomicInteger();
            List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                String role = i % 2 == 0 ? "pgsvc_lim_a" : "pgsvc_lim_b";
                Thread t = new Thread(() -> {
                    try (Connection c = p.connect(role, "limpass"); Statement st = c.createStatement()) {
                        for (int n = 0; n < 30; n++) {
                            st.execute("SELECT pg_sleep(0.01)");
                        }
                        done.incrementAndGet();
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                });
                threads.add(t);
                t.start();
            }
            Thread sampler = new Thread(() -> {
                while (running.get()) {
                    try {
                        max.accumulateAndGet(TestRoles.backendsOfEither("pgsvc_lim_a", "pgsvc_lim_b"), Math::max);
                    } catch (SQLException e) {
                        errors.add(e);
                        return;
                    }
                }
            });
            sampler.start();
            for (Thread t : threads) {
                t.join(120_000);
            }
            running.set(false);
            sampler.join();
            assertEquals(List.of(), errors);
            assertEquals(6, done.get());
            assertTrue(max.get() <= 2 && max.get() > 0, "server connections to the database: " + max.get());
        }
    }
}
