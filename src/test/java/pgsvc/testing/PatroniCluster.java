package pgsvc.testing;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * A real Patroni cluster on loopback: one etcd and two Patroni members, {@code pg-1} and {@code pg-2}, each running
 * its own PostgreSQL. Each {@link #start(String)} makes a fresh one in its own directory under /tmp, on free ports,
 * with the test roles and database of {@link PgCluster} plus a monitoring role; {@link #close()} kills it all and
 * deletes the directory.
 *
 * <p>The DCS timings are short (see {@link #TTL}), so that a leader whose node dies ({@link #stopPatroni}) is replaced
 * in about ten seconds. A leader whose PostgreSQL alone crashes
 * ({@link #killPostgres}) is normally restarted by its Patroni and stays leader: that is not a failover.
 *
 * <p>Needs {@code patroni} and {@code etcd} on the PATH ({@value #INSTALL_HINT}) and the PostgreSQL server binaries
 * of {@link PgBinaries}. As root, Patroni and so PostgreSQL run as the OS user {@code postgres}; etcd runs as us.
 */
public final class PatroniCluster implements AutoCloseable {

    public static final String INSTALL_HINT = "apt-get install -y patroni etcd-server";
    public static final List<String> MEMBER_NAMES = List.of("pg-1", "pg-2");
    public static final String REPLICATION_USER = "replicator";
    public static final String REPLICATION_PASSWORD = "replpass";
    /** Member of pg_monitor: what the router's health checks log in as. */
    public static final String MONITOR_USER = "pgsvc_monitor";
    public static final String MONITOR_PASSWORD = "monitorpass";
    /**
     * The leader key's time to live, and so the bound on how long a dead leader keeps it. Patroni's rule is
     * {@code loop_wait + 2 * retry_timeout <= ttl}: 1 + 2 * 4 <= 10. Patroni 3.0 (Debian 12) takes 10; later
     * releases raise a ttl under 20 to 20 with a warning, which keeps this cluster working, only slower to fail over.
     */
    public static final Duration TTL = Duration.ofSeconds(10);

    private static final int LOOP_WAIT_SECONDS = 1;
    private static final int RETRY_TIMEOUT_SECONDS = 4;
    private static final String LOOPBACK = "127.0.0.1";
    private static final String NETWORK = LOOPBACK + "/32";
    private static final List<String> TEST_ROLES =
            List.of(PgCluster.MD5_USER, PgCluster.SCRAM_USER, PgCluster.TRUST_USER, MONITOR_USER);
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration HTTP_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration KILL_TIMEOUT = Duration.ofSeconds(10);
    /** Free ports are picked, closed and then bound by etcd, Patroni or PostgreSQL: another process may win one. */
    private static final int START_ATTEMPTS = 3;
    private static final int LOG_TAIL_LINES = 40;
    private static final JsonFactory JSON = new JsonFactory();
    private static final HttpClient HTTP = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2))
            .build();

    private final String scope;
    private final Path baseDir;
    private final Path binDir;
    /** The OS user {@code postgres} when this JVM is root, which PostgreSQL refuses to run as; else null. */
    private final UserPrincipal serverUser;
    private final int etcdClientPort;
    private final int etcdPeerPort;
    private final Map<String, Node> nodes;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Thread shutdownHook;
    private volatile Process etcd;

    /** A member's files and its Patroni process, which {@link #stopPatroni} and {@link #startPatroni} replace. */
    private static final class Node {
        final PatroniMember member;
        final Path dir;
        volatile Process patroni;
        /** Stopped on purpose: its Patroni being gone is no failure. */
        volatile boolean stopped;

        Node(PatroniMember member, Path dir) {
            this.member = member;
            this.dir = dir;
        }

        Path config() {
            return dir.resolve("patroni.yml");
        }

        Path log() {
            return dir.resolve("patroni.log");
        }

        Path dataDir() {
            return dir.resolve("data");
        }
    }

    /**
     * What Patroni's {@code GET /cluster} says about one member. {@code role} is "leader", "replica",
     * "sync_standby" or "standby_leader"; {@code state} e.g. "running", "starting", "stopped".
     */
    public record MemberStatus(String name, String role, String state, int timeline) {

        public boolean leader() {
            // "master" is what Patroni before 2.0 said
            return role.equals("leader") || role.equals("master");
        }
    }

    private PatroniCluster(String scope, Path baseDir, Path binDir, UserPrincipal serverUser, List<Integer> ports) {
        this.scope = scope;
        this.baseDir = baseDir;
        this.binDir = binDir;
        this.serverUser = serverUser;
        this.etcdClientPort = ports.get(0);
        this.etcdPeerPort = ports.get(1);
        Map<String, Node> byName = new LinkedHashMap<>();
        int next = 2;
        for (String name : MEMBER_NAMES) {
            PatroniMember member = new PatroniMember(name, LOOPBACK, ports.get(next), ports.get(next + 1));
            next += 2;
            byName.put(name, new Node(member, baseDir.resolve(name)));
        }
        this.nodes = byName;
        this.shutdownHook = new Thread(this::close, "pgsvc-patroni-cluster-stop");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /** True when {@code patroni} and {@code etcd} are on the PATH, for a test that would rather skip than fail. */
    public static boolean available() {
        return executable("patroni").isPresent() && executable("etcd").isPresent();
    }

    /**
     * Starts etcd and both members, waits until one leads and the other streams from it, and creates the test roles
     * and database on the leader. {@code scope} is Patroni's cluster name.
     */
    public static PatroniCluster start(String scope) {
        for (int attempt = 1; ; attempt++) {
            PatroniCluster cluster = create(scope);
            try {
                cluster.boot();
                return cluster;
            } catch (RuntimeException e) {
                boolean portTaken = cluster.logsContain("address already in use");
                String logs = cluster.describe();
                try {
                    cluster.close();
                } catch (RuntimeException closeFailure) {
                    e.addSuppressed(closeFailure);
                }
                if (!portTaken || attempt == START_ATTEMPTS) {
                    throw new IllegalStateException("cannot start Patroni cluster '" + scope + "': " + e.getMessage()
                            + "\n" + logs, e);
                }
            }
        }
    }

    public String scope() {
        return scope;
    }

    public List<PatroniMember> members() {
        return nodes.values().stream().map(n -> n.member).toList();
    }

    public PatroniMember member(String name) {
        return node(name).member;
    }

    /** The member that is not {@code member}: in a two-member cluster, the other one. */
    public PatroniMember other(PatroniMember member) {
        return members().stream().filter(m -> !m.equals(member)).findFirst().orElseThrow();
    }

    /** The members as Patroni's {@code GET /cluster} lists them, asked of the first Patroni that answers. */
    public List<MemberStatus> clusterStatus() {
        IOException last = null;
        for (Node n : nodes.values()) {
            if (n.stopped) {
                continue;
            }
            try {
                HttpResponse<String> r = get(n.member, "cluster", HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    return parseMembers(r.body());
                }
                last = new IOException("GET /cluster on " + n.member.name() + ": HTTP " + r.statusCode());
            } catch (IOException e) {
                last = e;
            }
        }
        throw new UncheckedIOException("no Patroni REST API of '" + scope + "' answers GET /cluster", last);
    }

    /** The member that holds the leader key per {@code GET /cluster}, if any does. */
    public Optional<PatroniMember> leaderIfAny() {
        return clusterStatus().stream().filter(MemberStatus::leader).findFirst().map(s -> member(s.name()));
    }

    /** The member that holds the leader key per {@code GET /cluster}; fails if none does (a failover is running). */
    public PatroniMember leader() {
        return leaderIfAny().orElseThrow(() -> new IllegalStateException(
                "no leader in Patroni cluster '" + scope + "': " + clusterStatus() + "\n" + describe()));
    }

    /**
     * Waits until a member matching {@code which} holds the leader key, its {@code GET /primary} answers 200 and its
     * PostgreSQL has left recovery (accepts writes), and returns it. The last check is not implied by the others:
     * Patroni answers 200 on /primary as soon as it holds the key, while it still promotes PostgreSQL, and after a
     * crash it restarts its PostgreSQL as a standby before promoting it again.
     */
    public PatroniMember awaitLeader(Predicate<PatroniMember> which, Duration timeout) {
        AtomicReference<PatroniMember> found = new AtomicReference<>();
        await(timeout, "a matching member leads '" + scope + "'", () -> {
            Optional<PatroniMember> leader = leaderIfAny().filter(which);
            if (leader.isPresent() && restEndpoint(leader.get(), "primary") == 200 && writable(leader.get())) {
                found.set(leader.get());
                return true;
            }
            return false;
        });
        return found.get();
    }

    /** Waits until a member other than {@code previous} leads, as after a failover, and returns it. */
    public PatroniMember awaitLeaderOtherThan(PatroniMember previous, Duration timeout) {
        return awaitLeader(m -> !m.equals(previous), timeout);
    }

    /**
     * Waits until one member leads as {@link #awaitLeader} means it, and every other one is a replica
     * ({@code GET /replica} 200, {@code GET /primary} 503) streaming from it, as the leader's pg_stat_replication
     * shows.
     */
    public void awaitHealthy(Duration timeout) {
        await(timeout, "'" + scope + "' has a leader and streaming replicas", () -> {
            Optional<PatroniMember> leader = leaderIfAny();
            if (leader.isEmpty() || restEndpoint(leader.get(), "primary") != 200 || !writable(leader.get())
                    || restEndpoint(leader.get(), "replica") != 503) {
                return false;
            }
            for (PatroniMember m : members()) {
                if (!m.equals(leader.get()) && (restEndpoint(m, "replica") != 200
                        || restEndpoint(m, "primary") != 503 || !streamsFrom(leader.get(), m))) {
                    return false;
                }
            }
            return true;
        });
    }

    /**
     * The HTTP status of {@code GET http://127.0.0.1:<rest port>/<path>} on {@code member}'s Patroni: e.g. 200 or
     * 503 for "primary", "replica", "read-only", "health". Throws UncheckedIOException if nothing answers.
     */
    public int restEndpoint(PatroniMember member, String path) {
        try {
            return get(member, path, HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            throw new UncheckedIOException("GET /" + path + " on " + member + " failed", e);
        }
    }

    /**
     * Kills the member's PostgreSQL with SIGKILL, postmaster first, as a crash would; its Patroni, if running,
     * will restart it. Fails if the member has no PostgreSQL running.
     */
    public void killPostgres(PatroniMember member) {
        Node n = node(member.name());
        if (!killPostmaster(n)) {
            throw new IllegalStateException(member.name() + " has no running postmaster to kill\n" + describe());
        }
    }

    /**
     * Kills the member's Patroni with SIGKILL, so that it neither stops PostgreSQL nor releases the leader key,
     * then its PostgreSQL: the node died. Another member takes over once the leader key expires ({@link #TTL}).
     */
    public void stopPatroni(PatroniMember member) {
        Node n = node(member.name());
        n.stopped = true;
        killPatroni(n);
        killPostmaster(n);
    }

    /**
     * Starts a member's Patroni again after {@link #stopPatroni}. An old leader rejoins as a replica; if its
     * timeline diverged, Patroni deletes its data directory and copies the leader's (no pg_rewind).
     */
    public void startPatroni(PatroniMember member) {
        Node n = node(member.name());
        if (n.patroni != null && n.patroni.isAlive()) {
            throw new IllegalStateException(member.name() + ": Patroni is running");
        }
        launchPatroni(n);
        n.stopped = false;
    }

    /** The last lines of the logs of etcd and each Patroni (with its PostgreSQL), for assertion messages. */
    public String describe() {
        StringBuilder sb = new StringBuilder("Patroni cluster '").append(scope).append("' in ").append(baseDir);
        appendTail(sb, "etcd", baseDir.resolve("etcd.log"), LOG_TAIL_LINES / 2);
        for (Node n : nodes.values()) {
            appendTail(sb, n.member.name() + (n.stopped ? " (stopped)" : ""), n.log(), LOG_TAIL_LINES);
        }
        return sb.toString();
    }

    /** Kills every process of the cluster and deletes its directory. Idempotent; also runs at JVM exit. */
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
        RuntimeException failure = new IllegalStateException("stopping Patroni cluster '" + scope + "' failed");
        for (Node n : nodes.values()) {
            n.stopped = true;
            attempt(failure, () -> killPatroni(n));
            attempt(failure, () -> killPostmaster(n));
        }
        attempt(failure, () -> killTree(etcd));
        // Whatever else still names our directory: a postmaster Patroni was starting as we killed it, say.
        attempt(failure, this::killStragglers);
        attempt(failure, this::deleteBaseDir);
        if (failure.getSuppressed().length > 0) {
            throw failure;
        }
    }

    private static PatroniCluster create(String scope) {
        Path binDir = PgBinaries.serverBinDir().orElseThrow(() -> new IllegalStateException(
                "no PostgreSQL server binaries for Patroni; install them with: " + PgBinaries.INSTALL_HINT));
        if (!available()) {
            throw new IllegalStateException("patroni or etcd is not on the PATH; install them with: " + INSTALL_HINT);
        }
        boolean root = PgBinaries.runningAsRoot();
        if (root) {
            PgBinaries.requirePostgresUser();
        }
        try {
            Path base = Files.createTempDirectory(Path.of("/tmp"), "pgsvc-patroni-");
            UserPrincipal user = null;
            if (root) {
                user = base.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("postgres");
                Files.setOwner(base, user);
            }
            return new PatroniCluster(scope, base, binDir, user, freePorts(2 + 2 * MEMBER_NAMES.size()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a Patroni cluster directory under /tmp", e);
        }
    }

    private void boot() {
        startEtcd();
        for (Node n : nodes.values()) {
            try {
                Files.createDirectories(n.dir);
                writeOwned(n.dir, null);
                writeOwned(n.config(), patroniConfig(n));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            // Both at once: one wins the initialize key in etcd and runs initdb, the other waits and copies it.
            launchPatroni(n);
        }
        PatroniMember leader = awaitLeader(m -> true, START_TIMEOUT);
        try {
            createTestObjects(leader);
        } catch (SQLException e) {
            throw new IllegalStateException("cannot create the test roles on " + leader, e);
        }
        awaitHealthy(START_TIMEOUT);
    }

    private void startEtcd() {
        String client = "http://" + LOOPBACK + ":" + etcdClientPort;
        String peer = "http://" + LOOPBACK + ":" + etcdPeerPort;
        ProcessBuilder pb = new ProcessBuilder(executable("etcd").orElseThrow().toString(),
                "--name", "etcd",
                "--data-dir", baseDir.resolve("etcd").toString(),
                "--listen-client-urls", client,
                "--advertise-client-urls", client,
                "--listen-peer-urls", peer,
                "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "etcd=" + peer,
                "--initial-cluster-state", "new",
                "--initial-cluster-token", scope,
                "--logger", "zap",
                "--log-outputs", "stderr");
        // etcd reads ETCD_* variables too, and refuses to start when one repeats a flag.
        pb.environment().keySet().removeIf(k -> k.startsWith("ETCD_"));
        etcd = launch(pb, baseDir.resolve("etcd.log"));
        URI health = URI.create(client + "/health");
        await(START_TIMEOUT, "etcd answers on " + client, () -> {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(health).timeout(HTTP_TIMEOUT).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 && r.body().contains("true");
        });
    }

    private void launchPatroni(Node n) {
        List<String> cmd = new ArrayList<>();
        if (serverUser != null) {
            cmd.addAll(List.of("runuser", "-u", serverUser.getName(), "--"));
        }
        cmd.add(executable("patroni").orElseThrow().toString());
        cmd.add(n.config().toString());
        // Run from the member's directory: the server user may not be allowed into the JVM's working directory.
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(n.dir.toFile());
        // Patroni reads PATRONI_* variables over its config file; a developer's own must not leak in.
        pb.environment().keySet().removeIf(k -> k.startsWith("PATRONI_") || k.startsWith("PG"));
        n.patroni = launch(pb, n.log());
    }

    private static Process launch(ProcessBuilder pb, Path log) {
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectErrorStream(true);
        try {
            return pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", pb.command()), e);
        }
    }

    private String patroniConfig(Node n) {
        PatroniMember m = n.member;
        return String.join("\n",
                "# written by pgsvc.testing.PatroniCluster",
                "scope: " + quote(scope),
                "name: " + quote(m.name()),
                "restapi:",
                "  listen: " + m.host() + ":" + m.restPort(),
                "  connect_address: " + m.host() + ":" + m.restPort(),
                // etcd3: Patroni speaks etcd's v3 JSON gateway; its "etcd:" would need etcd's v2 API (--enable-v2).
                "etcd3:",
                "  hosts: " + LOOPBACK + ":" + etcdClientPort,
                "bootstrap:",
                "  dcs:",
                "    ttl: " + TTL.toSeconds(),
                "    loop_wait: " + LOOP_WAIT_SECONDS,
                "    retry_timeout: " + RETRY_TIMEOUT_SECONDS,
                "    maximum_lag_on_failover: 1048576",
                "    postgresql:",
                "      use_pg_rewind: false",
                "      use_slots: true",
                // Only the DCS sets these: Patroni passes them on the postgres command line, equal on all members.
                "      parameters:",
                "        max_connections: 300",
                "        max_wal_senders: 10",
                "        wal_level: replica",
                "        hot_standby: 'on'",
                "        wal_keep_size: 128MB",
                "  initdb:",
                "    - encoding: UTF8",
                "    - locale: C",
                "    - no-sync",
                "postgresql:",
                "  listen: " + m.host() + ":" + m.pgPort(),
                "  connect_address: " + m.host() + ":" + m.pgPort(),
                "  data_dir: " + quote(n.dataDir().toString()),
                "  bin_dir: " + quote(binDir.toString()),
                // Patroni's default, /tmp/pgpass0, would be shared by every cluster on the machine.
                "  pgpass: " + quote(n.dir.resolve("pgpass").toString()),
                "  basebackup:",
                "    - checkpoint: fast",
                // Without pg_rewind, an old leader that wrote past the failover point can only rejoin from scratch.
                "  remove_data_directory_on_diverged_timelines: true",
                "  remove_data_directory_on_rewind_failure: true",
                "  authentication:",
                "    superuser:",
                "      username: " + quote(PgCluster.SUPERUSER),
                "      password: " + quote(PgCluster.SUPERUSER_PASSWORD),
                "    replication:",
                "      username: " + quote(REPLICATION_USER),
                "      password: " + quote(REPLICATION_PASSWORD),
                "  parameters:",
                "    unix_socket_directories: " + quote(n.dir.toString()),
                "    hot_standby_feedback: 'on'",
                // Durability is worth nothing in a throwaway cluster, and costs seconds per test run.
                "    fsync: 'off'",
                "    synchronous_commit: 'off'",
                "    full_page_writes: 'off'",
                "    logging_collector: 'off'",
                "    log_line_prefix: '%m [%p] %q%u@%d '",
                // First match wins; Patroni writes this pg_hba.conf on every start.
                "  pg_hba:",
                "    - local all all trust",
                "    - host all " + PgCluster.MD5_USER + " " + NETWORK + " md5",
                "    - host all " + PgCluster.TRUST_USER + " " + NETWORK + " trust",
                "    - host all all " + NETWORK + " scram-sha-256",
                "    - host replication " + REPLICATION_USER + " " + NETWORK + " scram-sha-256",
                "watchdog:",
                "  mode: 'off'",
                "");
    }

    private static void createTestObjects(PatroniMember leader) throws SQLException {
        String roles = String.join(", ", TEST_ROLES);
        try (Connection c = leader.connectAdmin(); Statement st = c.createStatement()) {
            // The role's password is hashed with password_encryption as it is when the role is created.
            st.execute("SET password_encryption = 'md5'");
            st.execute("CREATE ROLE " + PgCluster.MD5_USER + " LOGIN PASSWORD '" + PgCluster.MD5_PASSWORD + "'");
            st.execute("SET password_encryption = 'scram-sha-256'");
            st.execute("CREATE ROLE " + PgCluster.SCRAM_USER + " LOGIN PASSWORD '" + PgCluster.SCRAM_PASSWORD + "'");
            st.execute("CREATE ROLE " + PgCluster.TRUST_USER + " LOGIN");
            st.execute("CREATE ROLE " + MONITOR_USER + " LOGIN PASSWORD '" + MONITOR_PASSWORD + "' IN ROLE pg_monitor");
            st.execute("CREATE DATABASE " + PgCluster.DATABASE + " OWNER " + PgCluster.SUPERUSER);
            st.execute("GRANT ALL ON DATABASE " + PgCluster.DATABASE + " TO " + roles);
        }
        try (Connection c = leader.connect(PgCluster.DATABASE, PgCluster.SUPERUSER, PgCluster.SUPERUSER_PASSWORD);
             Statement st = c.createStatement()) {
            st.execute("GRANT ALL ON SCHEMA public TO " + roles);
        }
    }

    private static boolean writable(PatroniMember member) throws SQLException {
        try (Connection c = member.connectAdmin(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_is_in_recovery()")) {
            rs.next();
            return !rs.getBoolean(1);
        }
    }

    private static boolean streamsFrom(PatroniMember leader, PatroniMember replica) throws SQLException {
        // Patroni sets application_name to the member's name in primary_conninfo.
        try (Connection c = leader.connectAdmin(); PreparedStatement st = c.prepareStatement(
                "SELECT 1 FROM pg_stat_replication WHERE application_name = ? AND state = 'streaming'")) {
            st.setString(1, replica.name());
            try (ResultSet rs = st.executeQuery()) {
                return rs.next();
            }
        }
    }

    /**
     * {@link Await#until} that gives up at once when a process we did not stop has exited (a config error, a port
     * taken), and puts the logs in its failure.
     */
    private void await(Duration timeout, String what, Callable<Boolean> condition) {
        try {
            Await.until(timeout, what, () -> exitedProcess().isPresent() || condition.call());
        } catch (IllegalStateException e) {
            throw new IllegalStateException(e.getMessage() + "\n" + describe(), e.getCause());
        }
        Optional<String> exited = exitedProcess();
        if (exited.isPresent()) {
            throw new IllegalStateException(exited.get() + " exited while waiting until " + what + "\n" + describe());
        }
    }

    private Optional<String> exitedProcess() {
        Process e = etcd;
        if (e != null && !e.isAlive()) {
            return Optional.of("etcd (exit " + e.exitValue() + ")");
        }
        for (Node n : nodes.values()) {
            Process p = n.patroni;
            if (!n.stopped && p != null && !p.isAlive()) {
                return Optional.of("Patroni of " + n.member.name() + " (exit " + p.exitValue() + ")");
            }
        }
        return Optional.empty();
    }

    private <T> HttpResponse<T> get(PatroniMember member, String path, HttpResponse.BodyHandler<T> body)
            throws IOException {
        String p = path.startsWith("/") ? path.substring(1) : path;
        HttpRequest request = HttpRequest.newBuilder(URI.create(member.restUrl() + "/" + p))
                .timeout(HTTP_TIMEOUT).GET().build();
        try {
            return HTTP.send(request, body);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted during GET /" + p + " on " + member, e);
        }
    }

    /** Reads the {@code members} array of {@code GET /cluster}; other fields and unknown member fields are skipped. */
    static List<MemberStatus> parseMembers(String json) throws IOException {
        List<MemberStatus> members = new ArrayList<>();
        try (JsonParser p = JSON.createParser(json)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException("GET /cluster: not a JSON object: " + json);
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken value = p.nextToken();
                if (field.equals("members") && value == JsonToken.START_ARRAY) {
                    while (p.nextToken() == JsonToken.START_OBJECT) {
                        members.add(parseMember(p));
                    }
                } else {
                    p.skipChildren();
                }
            }
        }
        return members;
    }

    private static MemberStatus parseMember(JsonParser p) throws IOException {
        String name = null;
        String role = "";
        String state = "";
        int timeline = 0;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            p.nextToken();
            switch (field) {
                case "name" -> name = p.getValueAsString();
                case "role" -> role = p.getValueAsString("");
                case "state" -> state = p.getValueAsString("");
                case "timeline" -> timeline = p.getValueAsInt(0);
                default -> p.skipChildren();
            }
        }
        if (name == null) {
            throw new IOException("GET /cluster: a member without a name");
        }
        return new MemberStatus(name, role, state, timeline);
    }

    private Node node(String name) {
        Node n = nodes.get(name);
        if (n == null) {
            throw new IllegalArgumentException("no member " + name + " in '" + scope + "'; members: " + nodes.keySet());
        }
        return n;
    }

    private void killPatroni(Node n) {
        // As root, the process we started is runuser and Patroni its child: killing runuser alone orphans Patroni.
        killTree(n.patroni);
    }

    /**
     * SIGKILLs the postmaster named by postmaster.pid and its backends. Patroni starts PostgreSQL in a new session
     * and lets it go, so it is no descendant of Patroni's. Returns false if no postmaster runs.
     */
    private boolean killPostmaster(Node n) {
        Path pidFile = n.dataDir().resolve("postmaster.pid");
        long pid;
        try {
            List<String> lines = Files.readAllLines(pidFile, StandardCharsets.UTF_8);
            if (lines.isEmpty() || lines.get(0).isBlank()) {
                return false;
            }
            pid = Long.parseLong(lines.get(0).trim());
        } catch (NoSuchFileException noServer) {
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // A pid file left by an earlier kill may name a pid the OS has given to someone else since.
        Optional<ProcessHandle> postmaster = ProcessHandle.of(pid)
                .filter(h -> h.info().command().map(c -> c.endsWith("/postgres")).orElse(true));
        if (postmaster.isEmpty()) {
            return false;
        }
        List<ProcessHandle> backends = postmaster.get().descendants().toList();
        postmaster.get().destroyForcibly();
        backends.forEach(ProcessHandle::destroyForcibly);
        awaitExit(postmaster.get());
        backends.forEach(PatroniCluster::awaitExit);
        return true;
    }

    private static void killTree(Process p) {
        if (p == null) {
            return;
        }
        List<ProcessHandle> descendants = p.descendants().toList();
        descendants.forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        descendants.forEach(PatroniCluster::awaitExit);
        awaitExit(p.toHandle());
    }

    private void killStragglers() {
        String dir = baseDir.toString() + "/";
        List<ProcessHandle> ours = ProcessHandle.allProcesses()
                .filter(h -> h.info().arguments().stream().flatMap(Stream::of).anyMatch(a -> a.startsWith(dir)))
                .toList();
        for (ProcessHandle h : ours) {
            h.descendants().forEach(ProcessHandle::destroyForcibly);
            h.destroyForcibly();
        }
        ours.forEach(PatroniCluster::awaitExit);
    }

    private static void awaitExit(ProcessHandle h) {
        try {
            h.onExit().get(KILL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for pid " + h.pid() + " to exit", e);
        } catch (Exception e) {
            throw new IllegalStateException("pid " + h.pid() + " did not exit within " + KILL_TIMEOUT, e);
        }
    }

    private void deleteBaseDir() {
        try (Stream<Path> paths = Files.walk(baseDir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (NoSuchFileException alreadyGone) {
            // never created
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + baseDir, e);
        }
    }

    /** Writes {@code content} to a file (or, when null, only chowns a directory) the server user can use. */
    private void writeOwned(Path path, String content) throws IOException {
        if (content != null) {
            Files.writeString(path, content, StandardCharsets.UTF_8);
        }
        if (serverUser != null) {
            Files.setOwner(path, serverUser);
        }
    }

    private boolean logsContain(String text) {
        String needle = text.toLowerCase(Locale.ROOT);
        return Stream.concat(Stream.of(baseDir.resolve("etcd.log")), nodes.values().stream().map(Node::log))
                .anyMatch(log -> readQuietly(log).toLowerCase(Locale.ROOT).contains(needle));
    }

    private static void appendTail(StringBuilder sb, String title, Path log, int lines) {
        List<String> all = readQuietly(log).lines().toList();
        sb.append("\n--- ").append(title).append(": last ").append(Math.min(lines, all.size())).append(" lines of ")
                .append(log).append('\n');
        all.subList(Math.max(0, all.size() - lines), all.size()).forEach(l -> sb.append(l).append('\n'));
    }

    private static String readQuietly(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException | UncheckedIOException e) {
            return "";
        }
    }

    private static void attempt(RuntimeException failure, Runnable step) {
        try {
            step.run();
        } catch (RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    /** Distinct loopback ports nobody listens on right now: all held open together, so no two are the same. */
    private static List<Integer> freePorts(int count) throws IOException {
        List<ServerSocket> sockets = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                sockets.add(new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK)));
            }
            return sockets.stream().map(ServerSocket::getLocalPort).toList();
        } finally {
            for (ServerSocket s : sockets) {
                s.close();
            }
        }
    }

    private static Optional<Path> executable(String name) {
        // An absolute path, since runuser may hand the server user a PATH of its own.
        String path = System.getenv("PATH");
        return Stream.of((path == null ? "" : path).split(File.pathSeparator)).filter(d -> !d.isEmpty())
                .map(d -> Path.of(d, name)).filter(Files::isExecutable).findFirst();
    }

    /** A YAML single-quoted scalar. */
    private static String quote(String s) {
        return "'" + s.replace("'", "''") + "'";
    }
}
