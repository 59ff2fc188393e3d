package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.ProcResult;
import pgsvc.testing.Tools;

/**
 * pgbench through pgsvc in transaction mode: many clients, no failed transaction, and never more server connections
 * than the pool size. The tps printed is for information only.
 */
@ExtendWith(PgClusterExtension.class)
class PgbenchTest {
    private static final String USER = "pgsvc_bench";
    private static final String PASSWORD = "benchpass";
    private static final String DB = "pgsvc_bench";
    private static final int POOL_SIZE = 20;
    private static final Duration PGBENCH_TIMEOUT = Duration.ofSeconds(120);

    private static PoolerFixture pooler;

    @BeforeAll
    static void start() throws Exception {
        TestRoles.create(USER, PASSWORD);
        PgCluster.shared().pgbenchInit(DB, 1);
        try (Connection c = PgCluster.shared().primary().connect(DB, "postgres", "postgres");
             Statement st = c.createStatement()) {
            st.execute("GRANT USAGE ON SCHEMA public TO " + USER);
            st.execute("GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO " + USER);
        }
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("default_pool_size", Integer.toString(POOL_SIZE));
        settings.put("max_client_conn", "1000");
        pooler = PoolerFixture.builder(settings).userlist(TestRoles.userlistWith(USER, PASSWORD)).start();
    }

    @AfterAll
    static void stop() {
        pooler.close();
    }

    @Test
    void twoHundredClientsSelectOnly() throws Exception {
        benchWithinPoolSize("select-only", "-n", "-S", "-c", "200", "-j", "2", "-T", "10");
    }

    @Test
    void fiftyClientsTpcB() throws Exception {
        benchWithinPoolSize("tpc-b", "-n", "-c", "50", "-j", "2", "-T", "5");
    }

    @Test
    void extendedProtocolSelectOnly() {
        ProcResult r = pgbench("-n", "-M", "extended", "-S", "-c", "20", "-j", "2", "-T", "5");
        report("extended select-only", r);
    }

    /** Runs pgbench while a sampler polls pg_stat_activity for the pool's backends, and checks what it saw. */
    private static void benchWithinPoolSize(String name, String... args) throws Exception {
        AtomicInteger max = new AtomicInteger();
        AtomicInteger samples = new AtomicInteger();
        AtomicReference<Throwable> samplerError = new AtomicReference<>();
        ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor();
        try (Connection c = PgCluster.shared().primary().connectAdmin()) {
            sampler.scheduleWithFixedDelay(() -> {
                try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                        "SELECT count(*) FROM pg_stat_activity WHERE usename = '" + USER + "' AND datname = '" + DB
                                + "'")) {
                    rs.next();
                    max.accumulateAndGet(rs.getInt(1), Math::max);
                    samples.incrementAndGet();
                } catch (Throwable t) {
                    samplerError.compareAndSet(null, t);
                }
            }, 0, 50, TimeUnit.MILLISECONDS);
            ProcResult r = pgbench(args);
            sampler.shutdown();
            assertTrue(sampler.awaitTermination(30, TimeUnit.SECONDS), "the sampler stops");
            report(name, r);
        } finally {
            sampler.shutdownNow();
        }
        System.out.printf("pgbench through pgsvc, %s: at most %d server connections in %d samples%n", name, max.get(),
                samples.get());
        assertEquals(null, samplerError.get(), "the pg_stat_activity sampler failed");
        assertTrue(samples.get() > 0, "pg_stat_activity was sampled");
        assertTrue(max.get() > 0, "the sampler saw the pool's server connections");
        assertTrue(max.get() <= POOL_SIZE, "at most " + POOL_SIZE + " server connections, saw " + max.get());
    }

    private static ProcResult pgbench(String... args) {
        return Tools.pgbench(PGBENCH_TIMEOUT, pooler.port(), USER, PASSWORD, DB, args);
    }

    private static void report(String name, ProcResult r) {
        r.orThrow();
        assertEquals(0, r.failedTransactions(), r.describe());
        assertTrue(r.processedTransactions() > 0, r.describe());
        System.out.printf("pgbench through pgsvc, %s: %.0f tps, %d transactions%n", name, r.tps(),
                r.processedTransactions());
    }
}
