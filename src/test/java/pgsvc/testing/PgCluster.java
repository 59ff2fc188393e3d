package pgsvc.testing;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A real PostgreSQL primary and one streaming replica on loopback. {@link #shared()} starts one per JVM for all test
 * classes (register {@link PgClusterExtension} so it stops at the end of the run); a test that stops or promotes a
 * server must not do it to the shared cluster, and uses its own from {@link #startNew()} instead.
 *
 * <p>Server binaries come from $PG_BIN, {@code pg_config --bindir} or /usr/lib/postgresql/N/bin; without them,
 * from Docker. As root, the servers run as the OS user {@code postgres}, since PostgreSQL refuses to run as root.
 */
public final class PgCluster implements AutoCloseable {

    public static final String SUPERUSER = "postgres";
    public static final String SUPERUSER_PASSWORD = "postgres";
    /** Stored as an md5 hash, and pg_hba.conf asks for md5 from it. */
    public static final String MD5_USER = "pgsvc_md5";
    public static final String MD5_PASSWORD = "md5pass";
    public static final String SCRAM_USER = "pgsvc_scram";
    public static final String SCRAM_PASSWORD = "scrampass";
    /** No password; pg_hba.conf trusts it over TCP. */
    public static final String TRUST_USER = "pgsvc_trust";
    public static final String DATABASE = "pgsvc";

    private static final List<String> TEST_ROLES = List.of(MD5_USER, SCRAM_USER, TRUST_USER);
    private static final String REPLICATION_SLOT = "pgsvc_replica";
    private static final Duration SETUP_TIMEOUT = Duration.ofSeconds(120);
    private static final Duration PGBENCH_INIT_TIMEOUT = Duration.ofMinutes(10);
    private static final int PORT_ATTEMPTS = 5;

    private static final Object SHARED_LOCK = new Object();
    private static PgCluster shared;

    private final PgServer primary;
    private final PgServer replica;
    /** Servers to stop and hosts to close, most recent first. */
    private final Deque<AutoCloseable> resources;
    private final Duration startupTime;
    private final Map<String, Integer> pgbenchScales = new HashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Thread shutdownHook;

    private PgCluster(PgServer primary, PgServer replica, Deque<AutoCloseable> resources, Duration startupTime) {
        this.primary = primary;
        this.replica = replica;
        this.resources = resources;
        this.startupTime = startupTime;
        this.shutdownHook = new Thread(this::close, "pgsvc-pg-cluster-stop");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /** The cluster shared by every test class of this JVM, started on first use. */
    public static PgCluster shared() {
        synchronized (SHARED_LOCK) {
            if (shared == null) {
                shared = startNew();
            }
            return shared;
        }
    }

    /** Stops the shared cluster if one was started; the next {@link #shared()} starts a new one. */
    static void closeShared() {
        PgCluster cluster;
        synchronized (SHARED_LOCK) {
            cluster = shared;
            shared = null;
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    /** A cluster of the caller's own, to stop, promote or break; close it when done. */
    public static PgCluster startNew() {
        long start = System.nanoTime();
        Deque<AutoCloseable> resources = new ArrayDeque<>();
        try {
            PgHost primaryHost;
            PgHost replicaHost;
            Optional<Path> binDir = PgBinaries.serverBinDir();
            if (binDir.isPresent()) {
                primaryHost = LocalPgHost.create(binDir.get());
                replicaHost = primaryHost;
                resources.push(primaryHost);
            } else if (ContainerPgHost.dockerAvailable()) {
                List<ContainerPgHost> pair = ContainerPgHost.startPair();
                primaryHost = pair.get(0);
                replicaHost = pair.get(1);
                resources.push(primaryHost);
                resources.push(replicaHost);
            } else {
                throw new IllegalStateException("no PostgreSQL server binaries (looked at $PG_BIN, pg_config --bindir "
                        + "and /usr/lib/postgresql/*/bin) and no Docker to run them in; install them with: "
                        + PgBinaries.INSTALL_HINT);
            }
            PgServer primary = startPrimary(primaryHost, resources);
            createTestObjects(primary);
            PgServer replica = startReplica(replicaHost, primary, resources);
            return new PgCluster(primary, replica, resources, Duration.ofNanos(System.nanoTime() - start));
        } catch (RuntimeException | SQLException e) {
            RuntimeException failure = e instanceof RuntimeException re ? re
                    : new IllegalStateException("cannot set up the cluster", e);
            closeAll(resources, failure);
            throw failure;
        }
    }

    public PgServer primary() {
        return primary;
    }

    public PgServer replica() {
        return replica;
    }

    /** How long {@link #startNew()} took, from finding binaries to a streaming replica. */
    public Duration startupTime() {
        return startupTime;
    }

    /**
     * Runs {@code pgbench -i -s scale} on the primary as the superuser, creating {@code db} if needed and granting
     * the pgbench tables to the test roles. Done once per database and scale in this cluster.
     */
    public synchronized void pgbenchInit(String db, int scale) {
        if (Integer.valueOf(scale).equals(pgbenchScales.get(db))) {
            return;
        }
        try {
            try (Connection c = primary.connectAdmin();
                 PreparedStatement exists = c.prepareStatement("SELECT 1 FROM pg_database WHERE datname = ?")) {
                exists.setString(1, db);
                try (ResultSet rs = exists.executeQuery(); Statement st = c.createStatement()) {
                    if (!rs.next()) {
                        st.execute("CREATE DATABASE " + quoteIdent(db) + " OWNER " + SUPERUSER);
                    }
                }
            }
            Tools.pgbench(PGBENCH_INIT_TIMEOUT, primary.port(), SUPERUSER, SUPERUSER_PASSWORD, db,
                    "-i", "-q", "-s", Integer.toString(scale)).orThrow();
            try (Connection c = primary.connect(db, SUPERUSER, SUPERUSER_PASSWORD);
                 Statement st = c.createStatement()) {
                String roles = String.join(", ", TEST_ROLES);
                st.execute("GRANT ALL ON SCHEMA public TO " + roles);
                st.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO " + roles);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("pgbench init of " + db + " failed", e);
        }
        pgbenchScales.put(db, scale);
    }

    /** Stops both servers and deletes their files. Idempotent; also runs at JVM exit. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException shuttingDown) {
            // we are the hook
        }
        RuntimeException failure = new IllegalStateException("stopping the cluster failed");
        closeAll(resources, failure);
        if (failure.getSuppressed().length > 0) {
            throw failure;
        }
    }

    private static PgServer startPrimary(PgHost host, Deque<AutoCloseable> resources) {
        String dir = host.baseDir() + "/primary";
        String pwfile = host.baseDir() + "/pwfile";
        host.writeFile(pwfile, SUPERUSER_PASSWORD + "\n");
        host.exec(SETUP_TIMEOUT, host.binDir() + "/initdb", "-D", dir + "/data", "-U", SUPERUSER,
                "-A", "scram-sha-256", "--pwfile=" + pwfile, "-E", "UTF8", "--locale=C", "--no-sync").orThrow();
        host.writeFile(dir + "/data/pg_hba.conf", hba(host.clientNetwork()));
        // Our settings live in their own file, so the replica can replace them after pg_basebackup copied them.
        String conf = dir + "/data/postgresql.conf";
        host.writeFile(conf, host.readFile(conf) + "\ninclude 'pgsvc.conf'\n");
        return startOnFreePort(host, "primary", dir, resources);
    }

    private static PgServer startReplica(PgHost host, PgServer primary, Deque<AutoCloseable> resources)
            throws SQLException {
        String dir = host.baseDir() + "/replica";
        host.exec(SETUP_TIMEOUT, host.binDir() + "/pg_basebackup", "-h", primary.pgHost().peerHost(),
                "-p", Integer.toString(primary.serverPort()), "-U", SUPERUSER, "-D", dir + "/data",
                "-R", "-X", "stream", "-c", "fast", "-C", "-S", REPLICATION_SLOT, "--no-sync").orThrow();
        PgServer replica = startOnFreePort(host, "replica", dir, resources);
        Await.until(SETUP_TIMEOUT, "the replica is in recovery", replica::inRecovery);
        Await.until(SETUP_TIMEOUT, "the primary streams to the replica", () -> {
            try (Connection c = primary.connectAdmin(); PreparedStatement st = c.prepareStatement(
                    "SELECT 1 FROM pg_stat_replication WHERE application_name = ? AND state = 'streaming'")) {
                st.setString(1, replica.name());
                try (ResultSet rs = st.executeQuery()) {
                    return rs.next();
                }
            }
        });
        return replica;
    }

    private static PgServer startOnFreePort(PgHost host, String name, String dir, Deque<AutoCloseable> resources) {
        for (int attempt = 1; ; attempt++) {
            PgServer server = new PgServer(name, host, dir, host.newServerPort());
            host.writeFile(server.dataPath() + "/pgsvc.conf", serverConf(host, server, dir));
            try {
                server.start();
                resources.push(server::stop);
                return server;
            } catch (PgServer.PortInUseException e) {
                if (attempt == PORT_ATTEMPTS) {
                    throw e;
                }
            } catch (RuntimeException e) {
                // pg_ctl may have given up waiting on a postmaster that still runs; it must not outlive its files.
                try {
                    server.stop();
                } catch (RuntimeException stopFailure) {
                    e.addSuppressed(stopFailure);
                }
                throw e;
            }
        }
    }

    private static String serverConf(PgHost host, PgServer server, String socketDir) {
        return String.join("\n",
                "# written by pgsvc.testing.PgCluster",
                "listen_addresses = '" + host.listenAddresses() + "'",
                "port = " + server.serverPort(),
                "unix_socket_directories = '" + socketDir + "'",
                "cluster_name = '" + server.name() + "'",
                "max_connections = 300",
                "shared_buffers = 128MB",
                "wal_level = replica",
                "max_wal_senders = 10",
                "hot_standby = on",
                "hot_standby_feedback = on",
                // Durability is worth nothing in a throwaway cluster, and costs seconds per test run.
                "fsync = off",
                "synchronous_commit = off",
                "full_page_writes = off",
                "logging_collector = off",
                "log_destination = 'stderr'",
                "log_line_prefix = '%m [%p] %q%u@%d '",
                "");
    }

    private static String hba(String network) {
        return String.join("\n",
                "# written by pgsvc.testing.PgCluster; first match wins",
                "local all all trust",
                "host all " + MD5_USER + " " + network + " md5",
                "host all " + TRUST_USER + " " + network + " trust",
                "host all all " + network + " scram-sha-256",
                "host replication all " + network + " trust",
                "");
    }

    private static void createTestObjects(PgServer primary) throws SQLException {
        String roles = String.join(", ", TEST_ROLES);
        try (Connection c = primary.connectAdmin(); Statement st = c.createStatement()) {
            // The role's password is hashed with password_encryption as it is when the role is created.
            st.execute("SET password_encryption = 'md5'");
            st.execute("CREATE ROLE " + MD5_USER + " LOGIN PASSWORD '" + MD5_PASSWORD + "'");
            st.execute("SET password_encryption = 'scram-sha-256'");
            st.execute("CREATE ROLE " + SCRAM_USER + " LOGIN PASSWORD '" + SCRAM_PASSWORD + "'");
            st.execute("CREATE ROLE " + TRUST_USER + " LOGIN");
            st.execute("CREATE DATABASE " + DATABASE + " OWNER " + SUPERUSER);
            st.execute("GRANT ALL ON DATABASE " + DATABASE + " TO " + roles);
        }
        try (Connection c = primary.connect(DATABASE, SUPERUSER, SUPERUSER_PASSWORD);
             Statement st = c.createStatement()) {
            st.execute("GRANT ALL ON SCHEMA public TO " + roles);
        }
    }

    private static void closeAll(Deque<AutoCloseable> resources, RuntimeException failure) {
        while (!resources.isEmpty()) {
            try {
                resources.pop().close();
            } catch (Exception e) {
                failure.addSuppressed(e);
            }
        }
    }

    private static String quoteIdent(String ident) {
        return '"' + ident.replace("\"", "\"\"") + '"';
    }
}
