package pgsvc.it;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.function.Function;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;

/**
 * A primary and streaming replica of the test class's own (it may stop and promote them), and a pgsvc in front of
 * them whose [hosts], [services] and [router] sections route to those members. Sessions through a service log in as
 * the superuser to database pgsvc.
 */
record RouterFixture(PgCluster cluster, PoolerFixture pgsvc) implements AutoCloseable {
    /** A [router] section that checks often enough for a test to see a member change state within a second or so. */
    static final String FAST_CHECKS = "\n[router]\n"
            + "check_user = postgres\n"
            + "check_interval = 0.2\n"
            + "check_fast_interval = 0.1\n"
            + "check_down_interval = 0.2\n"
            + "rise = 2\n"
            + "fall = 2\n";

    private static final Duration MEMBER_DEADLINE = Duration.ofSeconds(20);

    /** Starts a new cluster, then pgsvc from {@code pooler} with the sections {@code sections} writes for it. */
    static RouterFixture start(PoolerFixture.Builder pooler, Function<PgCluster, String> sections) {
        PgCluster cluster = PgCluster.startNew();
        try {
            return new RouterFixture(cluster, pooler.cluster(cluster).sections(sections.apply(cluster)).start());
        } catch (RuntimeException e) {
            cluster.close();
            throw e;
        }
    }

    /** Pigsty's four services on hosts m1 (the primary) and m2 (the replica). */
    static String pigstySections(PgCluster c, int primaryPort, int replicaPort, int defaultPort, int offlinePort) {
        return pigstySections(c, primaryPort, replicaPort, defaultPort, offlinePort, "");
    }

    /** The same, with {@code moreServices} lines (newline-terminated) appended to [services]. */
    static String pigstySections(PgCluster c, int primaryPort, int replicaPort, int defaultPort, int offlinePort,
            String moreServices) {
        return "\n[hosts]\n"
                + "m1 = host=127.0.0.1 port=" + c.primary().port() + "\n"
                + "m2 = host=127.0.0.1 port=" + c.replica().port() + "\n"
                + "\n[services]\n"
                + "primary = port=" + primaryPort + " role=primary dest=pooler\n"
                + "replica = port=" + replicaPort + " role=replica backup=primary dest=pooler\n"
                + "default = port=" + defaultPort + " role=primary dest=postgres\n"
                + "offline = port=" + offlinePort + " role=offline backup=replica dest=postgres\n"
                + moreServices
                + FAST_CHECKS
                + "check_timeout = 1\n";
    }

    /** What {@link #where(int)} says for the server started as the primary (promotion does not change this). */
    String wherePrimary() {
        return cluster.primary().port() + "/false";
    }

    /** What {@link #where(int)} says for the server started as the replica, while it is one. */
    String whereReplica() {
        return cluster.replica().port() + "/true";
    }

    /** What the router says of host {@code name}, e.g. "UP primary". */
    String memberState(String name) {
        return pgsvc.pgsvc().memberState(name);
    }

    void awaitMember(String name, String state) {
        Await.until(MEMBER_DEADLINE, name + " is " + state, () -> state.equals(memberState(name)));
    }

    /** A session through the service on {@code servicePort}; {@code options} are pgjdbc URL parameters, or "". */
    static Connection connect(int servicePort, String options) throws SQLException {
        String url = "jdbc:postgresql://127.0.0.1:" + servicePort + "/pgsvc" + (options.isEmpty() ? "" : "?" + options);
        return DriverManager.getConnection(url, PgCluster.SUPERUSER, PgCluster.SUPERUSER_PASSWORD);
    }

    /** "(server port)/(in recovery)" of the member a new session through the service lands on, e.g. "5433/true". */
    static String where(int servicePort) throws SQLException {
        try (Connection c = connect(servicePort, "prepareThreshold=0&connectTimeout=5")) {
            return where(c);
        }
    }

    /** The same for the member session {@code c} is on. */
    static String where(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT inet_server_port(), pg_is_in_recovery()")) {
            rs.next();
            return rs.getInt(1) + "/" + rs.getBoolean(2);
        }
    }

    /** Whether a new session through the service lands on {@code member}, as {@link #where(int)} names it. */
    static boolean lands(int servicePort, String member) {
        try {
            return member.equals(where(servicePort));
        } catch (SQLException e) {
            return false;
        }
    }

    @Override
    public void close() {
        try {
            pgsvc.close();
        } finally {
            cluster.close();
        }
    }
}
