package pgsvc.pooler;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Set;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.Supplier;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPromise;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.DomainSocketChannel;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.auth.Hba;
import pgsvc.pooler.config.AuthFile;
import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.DatabaseEntry;
import pgsvc.pooler.config.PoolMode;
import pgsvc.pooler.config.UserEntry;
import pgsvc.pooler.tls.Tls;
import pgsvc.protocol.Messages;
import pgsvc.protocol.StartupDecoder;

/**
 * The pooler: configuration snapshot, pools, client accounting and cancel keys. Listeners (in the router) hand each
 * accepted client channel to {@link #clientInitializer()}.
 */
public final class Pooler {
    private static final Logger log = LoggerFactory.getLogger(Pooler.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Transport transport;
    private final EventLoopGroup workers;
    private final EventLoop[] loops;
    private final TrackedParams trackedParams;
    private final Map<PoolKey, Pool> pools = new ConcurrentHashMap<>();
    private final Map<Long, ClientConnection> cancelKeys = new ConcurrentHashMap<>();
    private final AtomicInteger clients = new AtomicInteger();
    private final Map<String, ScramKeys> scramKeys = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();
    private final PreparedStatements preparedStatements = new PreparedStatements();
    private final AuthQuery authQuery = new AuthQuery(this);
    /** Cancel requests for keys another process of the [peers] group issued (peer_id). */
    private final Peering peering = new Peering(this);
    /** Secrets auth_query found for users that then logged in, by database and user: their pools' passwords. */
    private final Map<PoolKey, String> lookedUpSecrets = new ConcurrentHashMap<>();
    /** Server host names, resolved off the loops and cached for dns_max_ttl (failures for dns_nxdomain_ttl). */
    private final Dns dns = Dns.jdk(() -> this.config.getMicros("dns_max_ttl"),
            () -> this.config.getMicros("dns_nxdomain_ttl"));
    /** Each event loop's clients, for the timeout sweep; each list is touched only on its own loop. */
    private final ClientSweep[] sweeps;
    /** Per-pool statistics (SHOW STATS, SHOW LATENCY) and the stats_period clock. */
    private final Stats stats;
    private volatile Function<DatabaseEntry, Route> entryRoutes;
    private volatile Config config;
    private volatile AuthFile authFile;
    private volatile Hba hba;
    private volatile Tls tls = Tls.disabled();

    public Pooler(Config config, AuthFile authFile, Transport transport, EventLoopGroup workers) {
        this.config = config;
        this.authFile = authFile;
        this.transport = transport;
        this.workers = workers;
        java.util.List<EventLoop> list = new java.util.ArrayList<>();
        for (EventExecutor e : workers) {
            list.add((EventLoop) e);
        }
        this.loops = list.toArray(new EventLoop[0]);
        this.trackedParams = new TrackedParams(config.getList("track_extra_parameters"));
        this.sweeps = new ClientSweep[loops.length];
        for (int i = 0; i < loops.length; i++) {
            sweeps[i] = new ClientSweep();
        }
        this.stats = new Stats(loops, () -> this.config);
    }

    Stats stats() {
        return stats;
    }

    public Config config() {
        return config;
    }

    public AuthFile authFile() {
        return authFile;
    }

    /** The auth_hba_file's rules when auth_type = hba, else null. */
    public Hba hba() {
        return hba;
    }

    /** Sets the HBA rules (at startup and on RELOAD); logins that start afterwards use them. */
    public void hba(Hba rules) {
        this.hba = rules;
    }

    /** The TLS contexts of the running configuration (client_tls_*, server_tls_*). */
    public Tls tls() {
        return tls;
    }

    /**
     * Sets the TLS contexts (at startup and on RELOAD); connections opened afterwards use them, open ones keep theirs.
     * As in PgBouncer, a change of a server_tls_* setting reconnects the servers, so none stays on the old terms.
     */
    public void tls(Tls next) {
        Tls was = this.tls;
        this.tls = next;
        if (was.serverSettingsDiffer(next)) {
            reconnect(null);
        }
    }

    /** The cache of server host names (SHOW DNS_HOSTS). */
    public Dns dns() {
        return dns;
    }

    public Transport transport() {
        return transport;
    }

    public EventLoopGroup workers() {
        return workers;
    }

    public int clientCount() {
        return clients.get();
    }

    /** A new initializer for an accepted client channel: startup decoder first, then the client's handler. */
    public ChannelInitializer<Channel> clientInitializer() {
        return clientInitializer(null);
    }

    /** The same for a listener whose clients are served by the endpoints a route chooses (a router service). */
    public ChannelInitializer<Channel> clientInitializer(Route route) {
        return new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                // Direct TLS (a ClientHello as the first bytes) only where an SSLRequest would be answered 'S'.
                Tls t = tls;
                Supplier<ChannelHandler> directTls = t.acceptsClients() && !(ch instanceof DomainSocketChannel)
                        ? () -> t.newClientHandler(ch.alloc()) : null;
                // The client connection frames what follows the StartupMessage itself (Framer).
                ch.pipeline().addLast("startup",
                        new StartupDecoder(maxStartupPacket(), maxPacketSize(), directTls, true));
                ch.pipeline().addLast("client", new ClientConnection(Pooler.this, route));
                WriteThrough.addTo(ch);
            }
        };
    }

    /**
     * Lets the router resolve [databases] entries with target_session_attrs to a route over its live view; without
     * a router such entries use their first host.
     */
    public void entryRoutes(Function<DatabaseEntry, Route> resolver) {
        this.entryRoutes = resolver;
    }

    private volatile Function<String, ConsoleTable> consoleExtension;

    /** SHOW commands the console does not know itself (the router's SHOW HOSTS, SHOW SERVICES) go here. */
    public void consoleExtension(Function<String, ConsoleTable> show) {
        this.consoleExtension = show;
    }

    Function<String, ConsoleTable> consoleExtension() {
        return consoleExtension;
    }

    /** The route for a database entry's clients on the plain pooler port, or null to use the entry's host. */
    Route routeFor(DatabaseEntry db) {
        Function<DatabaseEntry, Route> r = entryRoutes;
        return r == null || db.targetSessionAttrs() == null ? null : r.apply(db);
    }

    TrackedParams trackedParams() {
        return trackedParams;
    }

    int loopCount() {
        return loops.length;
    }

    int loopIndex(EventLoop loop) {
        for (int i = 0; i < loops.length; i++) {
            if (loops[i] == loop) {
                return i;
            }
        }
        throw new IllegalArgumentException("event loop not of this pooler: " + loop);
    }

    /** The pooler-wide registry of distinct prepared statements (max_prepared_statements). */
    PreparedStatements preparedStatements() {
        return preparedStatements;
    }

    long nextId() {
        return ids.incrementAndGet();
    }

    int maxPacketSize() {
        return (int) Math.min(Integer.MAX_VALUE, config.maxPacketSize());
    }

    private int maxStartupPacket() {
        return 10000;
    }

    /** pid and secret as the client sees them; the sign bit of the pid is cleared, as PgBouncer does. */
    long newCancelKey() {
        long key = RANDOM.nextLong();
        int peerId = config.getInt("peer_id");
        if (peerId > 0) {
            key = Peering.encode(key, peerId);
        }
        return key & 0x7fffffff_ffffffffL;
    }

    /** Forwarding of cancel requests to the other processes of a [peers] group (SHOW PEER_POOLS). */
    Peering peering() {
        return peering;
    }

    /** Keys a client proved with SCRAM against a stored SCRAM secret, kept for logging in to PostgreSQL as it. */
    public record ScramKeys(String secret, byte[] clientKey, byte[] serverKey) {
    }

    void rememberScramKeys(String user, ScramKeys keys) {
        scramKeys.put(user, keys);
    }

    /** The keys for a user, if they were proved against this very secret (a changed auth_file invalidates them). */
    public ScramKeys scramKeys(String user, String secret) {
        ScramKeys keys = scramKeys.get(user);
        return keys != null && keys.secret().equals(secret) ? keys : null;
    }

    /** auth_query lookups for users that auth_file does not list. */
    AuthQuery authQuery() {
        return authQuery;
    }

    /**
     * A client of {@code database} proved a secret that auth_query found for {@code user}: the pool logs in to
     * PostgreSQL with it from now on, as PgBouncer updates its dynamic user (a changed password takes effect at the
     * next login).
     */
    void rememberLookedUpSecret(String database, String user, String secret) {
        String old = lookedUpSecrets.put(new PoolKey(database, user, null), secret);
        if (secret.equals(old)) {
            return;
        }
        DatabaseEntry db = config.database(database);
        if (db == null || db.user() != null) {
            return;
        }
        for (Pool pool : pools.values()) {
            if (pool.key.database().equals(database) && pool.key.user().equals(user)) {
                pool.reconfigure(settings(db, database, user, false, pool.key.endpoint()));
            }
        }
    }

    boolean registerCancelKey(ClientConnection client) {
        return cancelKeys.putIfAbsent(client.cancelKey(), client) == null;
    }

    void clientOpened(ClientConnection client) {
        clients.incrementAndGet();
        sweeps[client.loopIndex()].add(client);
    }

    void clientClosed(ClientConnection client) {
        clients.decrementAndGet();
        sweeps[client.loopIndex()].remove(client);
        cancelKeys.remove(client.cancelKey(), client);
        if (client.countedDatabase != null) {
            dbClients.get(client.countedDatabase).decrementAndGet();
            client.countedDatabase = null;
        }
        if (client.countedUser != null) {
            userClients.get(client.countedUser).decrementAndGet();
            client.countedUser = null;
        }
    }

    private final Map<String, AtomicInteger> dbClients = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> userClients = new ConcurrentHashMap<>();

    /**
     * Counts a client against its database's and user's client caps (max_db_client_connections,
     * max_user_client_connections) and returns the name of the cap it exceeds, or null. As in PgBouncer the client
     * stays counted either way until it closes.
     */
    String admitClient(ClientConnection client, DatabaseEntry db, String database, String user) {
        Config c = config;
        int dbCount = dbClients.computeIfAbsent(database, k -> new AtomicInteger()).incrementAndGet();
        client.countedDatabase = database;
        int userCount = userClients.computeIfAbsent(user, k -> new AtomicInteger()).incrementAndGet();
        client.countedUser = user;
        int maxDb = db.maxDbClientConnections() != null ? db.maxDbClientConnections()
                : c.getInt("max_db_client_connections");
        if (maxDb > 0 && dbCount > maxDb) {
            return "max_db_client_connections";
        }
        UserEntry u = c.users().get(user);
        int maxUser = u != null && u.maxUserClientConnections() != null ? u.maxUserClientConnections()
                : c.getInt("max_user_client_connections");
        if (maxUser > 0 && userCount > maxUser) {
            return "max_user_client_connections";
        }
        return null;
    }

    /**
     * The pool for a client of a database entry; with an endpoint (a router member) the servers are there instead of
     * at the entry's host. A retired pool (its member changed role) is replaced by a fresh one.
     */
    Pool pool(DatabaseEntry db, String database, String user, Endpoint endpoint) {
        String forced = db.user();
        PoolKey key = new PoolKey(database, forced != null ? forced : user, endpoint);
        Pool pool = pools.get(key);
        if (pool == null || pool.isRetired()) {
            pool = pools.compute(key, (k, old) -> old != null && !old.isRetired() ? old
                    : newPool(k, db, database, forced != null, endpoint, old));
        }
        return pool;
    }

    /** A pool of {@code key}; one that replaces a retired pool keeps counting that pool's logged-in clients. */
    private Pool newPool(PoolKey key, DatabaseEntry db, String database, boolean forced, Endpoint endpoint,
            Pool replaced) {
        Pool pool = new Pool(this, key, settings(db, database, key.user(), forced, endpoint), replaced);
        if (isPaused(database)) {
            pool.pause(() -> { });
        }
        return pool;
    }

    /**
     * Retires every pool whose servers are at this endpoint: idle servers close now, busy ones when released, and
     * new transactions get a fresh pool. The router calls it when a member's role changes or it goes down.
     */
    public void retire(Endpoint endpoint, String reason) {
        for (Pool pool : pools.values()) {
            if (endpoint.equals(pool.key.endpoint())) {
                pool.retire(reason);
            }
        }
    }

    private PoolSettings settings(DatabaseEntry db, String database, String serverUser, boolean forced,
            Endpoint endpoint) {
        Config c = config;
        UserEntry u = c.users().get(serverUser);
        PoolMode mode = u != null && u.poolMode() != null ? u.poolMode()
                : db.poolMode() != null ? db.poolMode() : c.poolMode();
        int size = u != null && u.poolSize() != null ? u.poolSize()
                : db.poolSize() != null ? db.poolSize() : c.defaultPoolSize();
        String password = forced && db.password() != null ? db.password()
                : authFile == null ? null : authFile.secret(serverUser);
        if (password == null && !forced) {
            password = lookedUpSecrets.get(new PoolKey(database, serverUser, null));
        }
        Map<String, String> startup = new HashMap<>();
        putIfSet(startup, "client_encoding", db.clientEncoding());
        putIfSet(startup, "datestyle", db.datestyle());
        putIfSet(startup, "timezone", db.timezone());
        putIfSet(startup, "application_name", db.applicationName());
        String reset = mode == PoolMode.SESSION || c.serverResetQueryAlways() ? c.serverResetQuery() : null;
        List<String> hosts = endpoint != null ? List.of(endpoint.host()) : db.hosts();
        String host = hosts.isEmpty() ? null : hosts.get(0);
        int port = endpoint != null ? endpoint.port() : db.port();
        boolean sticky = DatabaseEntry.LOAD_BALANCE_DISABLE.equals(db.loadBalanceHosts());
        int min = db.minPoolSize() != null ? db.minPoolSize() : c.getInt("min_pool_size");
        int reserve = u != null && u.reservePoolSize() != null ? u.reservePoolSize()
                : db.reservePoolSize() != null ? db.reservePoolSize() : c.getInt("reserve_pool_size");
        int maxDb = db.maxDbConnections() != null ? db.maxDbConnections() : c.getInt("max_db_connections");
        int maxUser = u != null && u.maxUserConnections() != null ? u.maxUserConnections()
                : c.getInt("max_user_connections");
        long queryWait = u != null && u.queryWaitTimeout() != null ? u.queryWaitTimeout() * 1_000_000L
                : c.getMicros("query_wait_timeout");
        long lifetime = db.serverLifetime() != null ? db.serverLifetime() * 1_000_000L : c.getMicros("server_lifetime");
        return new PoolSettings(host, hosts, sticky, new AtomicInteger(), port,
                db.dbname() != null ? db.dbname() : database, serverUser, password,
                Map.copyOf(startup), mode, size, c.getBool("server_round_robin"), c.getMicros("server_login_retry"),
                c.getMicros("server_connect_timeout"), queryWait, lifetime, reset, min,
                reserve, c.getMicros("reserve_pool_timeout"), c.getMicros("server_idle_timeout"), maxDb, maxUser,
                db.connectQuery(), checkQuery(c), c.getMicros("server_check_delay"),
                c.getInt("max_prepared_statements"));
    }

    /** server_check_query: empty disables the check, {@code <empty>} (the default) sends an empty Query. */
    private static String checkQuery(Config c) {
        String q = c.get("server_check_query");
        if (q == null || q.isBlank()) {
            return null;
        }
        return q.trim().equalsIgnoreCase("<empty>") ? "" : q;
    }

    private static void putIfSet(Map<String, String> map, String key, String value) {
        if (value != null) {
            map.put(key, value);
        }
    }

    /** Forwards a CancelRequest to the server the client is linked to right now, over a new connection. */
    void cancel(int processId, int secretKey) {
        long key = ((long) processId << 32) | (secretKey & 0xffffffffL);
        int ownPeerId = config.getInt("peer_id");
        if (ownPeerId > 0) {
            // With peering the key says which process issued it; ours have the TTL bits all set.
            if (Peering.peerId(key) != ownPeerId) {
                peering.forward(key);
                return;
            }
            key |= Peering.TTL_MASK;
        }
        ClientConnection client = cancelKeys.get(key);
        ServerConnection server = client == null ? null : client.linkedServer();
        if (server == null) {
            log.debug("cancel request for an unknown or idle client ignored");
            return;
        }
        cancel(server);
    }

    /**
     * Sends a CancelRequest for whatever the server is running, over a new connection that may take at most
     * cancel_wait_timeout to open.
     */
    void cancel(ServerConnection server) {
        // To the very address the server connection is on: with a host list the pool's next host may be another.
        SocketAddress address = server.channel().remoteAddress();
        if (address == null) {
            return;
        }
        long wait = config.getMicros("cancel_wait_timeout") / 1000;
        Bootstrap b = new Bootstrap().group(server.channel().eventLoop())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, wait))
                .channel(address instanceof DomainSocketAddress ? transport.domainSocketChannel()
                        : transport.socketChannel())
                .handler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        ctx.writeAndFlush(Messages.cancelRequest(ctx.alloc(), server.backendPid(),
                                server.backendKey())).addListener(ChannelFutureListener.CLOSE);
                    }
                });
        b.connect(address);
    }

    /** Opens a connection to a pool's PostgreSQL server on the given loop, to the pool's next host. */
    ChannelFuture connect(EventLoop loop, PoolSettings s, int timeoutMillis, ChannelHandler handler) {
        return connect(loop, s.nextHost(), s.port(), timeoutMillis, handler);
    }

    /**
     * Opens a connection to PostgreSQL on the given loop: TCP, or the Unix socket when the host is a directory or
     * null (then unix_socket_dir, as PgBouncer does). Pooled servers, health checks and direct services all use it.
     */
    public ChannelFuture connect(EventLoop loop, String host, int port, int timeoutMillis, ChannelHandler handler) {
        Bootstrap b = new Bootstrap().group(loop)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, Math.max(1, timeoutMillis))
                .handler(handler);
        SocketAddress address;
        if (host == null || host.startsWith("/")) {
            String dir = host == null ? config.unixSocketDir() : host;
            b.channel(transport.domainSocketChannel());
            address = new DomainSocketAddress(dir + "/.s.PGSQL." + port);
        } else {
            b.channel(transport.socketChannel());
            tcpOptions(config).forEach((option, value) -> b.option(option, value));
            InetAddress literal = NetUtil.createInetAddressFromIpAddressString(host);
            if (literal == null) {
                return connectByName(b, loop, host, port, timeoutMillis);
            }
            address = new InetSocketAddress(literal, port);
        }
        return b.connect(address);
    }

    /**
     * How reads get their buffers (ReadBuffers): 2 to 64 kB, and one buffer per event loop reused while no one else
     * holds it. One instance serves every connection (each gets its own small handle), where Netty's default builds
     * one per channel.
     */
    public static final RecvByteBufAllocator READ_SIZES = new ReadBuffers();

    /**
     * The options of a TCP connection, to a client or to PostgreSQL: no Nagle delay, and tcp_keepalive, its tuning,
     * tcp_user_timeout (ms) and tcp_socket_buffer, as PgBouncer's tune_socket sets them on both sides. A peer that
     * vanished without a FIN or RST (its host lost power, a firewall dropped the flow) is then noticed by the
     * kernel's probes. 0 keeps the kernel's default; the keepalive tuning needs the epoll transport.
     */
    @SuppressWarnings("unchecked")
    public Map<ChannelOption<Object>, Object> tcpOptions(Config c) {
        Map<ChannelOption<?>, Object> out = new java.util.LinkedHashMap<>();
        // No Nagle delay: Netty's channels set TCP_NODELAY themselves (setting it again cost a system call a login).
        out.put(ChannelOption.RCVBUF_ALLOCATOR, READ_SIZES);
        out.put(ChannelOption.SO_KEEPALIVE, c.getBool("tcp_keepalive"));
        if (c.getInt("tcp_socket_buffer") > 0) {
            out.put(ChannelOption.SO_SNDBUF, c.getInt("tcp_socket_buffer"));
            out.put(ChannelOption.SO_RCVBUF, c.getInt("tcp_socket_buffer"));
        }
        if (transport.isEpoll()) {
            Map<ChannelOption<Integer>, String> tuning = Map.of(EpollChannelOption.TCP_KEEPIDLE, "tcp_keepidle",
                    EpollChannelOption.TCP_KEEPINTVL, "tcp_keepintvl", EpollChannelOption.TCP_KEEPCNT, "tcp_keepcnt",
                    EpollChannelOption.TCP_USER_TIMEOUT, "tcp_user_timeout");
            tuning.forEach((option, key) -> {
                if (c.getInt(key) > 0) {
                    out.put(option, c.getInt(key));
                }
            });
        }
        return (Map<ChannelOption<Object>, Object>) (Map<?, ?>) out;
    }

    /**
     * TCP to a host name. The name is resolved by {@link #dns} off the loop while the channel registers; the timeout
     * covers the lookup and the handshake together, as server_connect_timeout does in PgBouncer. A name that does not
     * resolve fails the future as a refused connection would, so pools, checks and direct services handle it alike.
     */
    private ChannelFuture connectByName(Bootstrap b, EventLoop loop, String host, int port, int timeoutMillis) {
        Future<InetAddress> lookup = dns.resolve(host, loop);
        if (lookup.isSuccess()) {
            return b.connect(new InetSocketAddress(lookup.getNow(), port));
        }
        long started = System.nanoTime();
        ChannelFuture registered = b.register();
        Channel channel = registered.channel();
        ChannelPromise connected = channel.newPromise();
        connected.addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
        ScheduledFuture<?> timer = lookup.isDone() ? null : loop.schedule(() -> {
            connected.tryFailure(new ConnectTimeoutException("connection timed out: DNS lookup of " + host));
        }, Math.max(1, timeoutMillis), TimeUnit.MILLISECONDS);
        lookup.addListener(f -> {
            if (timer != null) {
                timer.cancel(false);
            }
            if (!f.isSuccess()) {
                connected.tryFailure(f.cause());
                return;
            }
            InetSocketAddress address = new InetSocketAddress(lookup.getNow(), port);
            registered.addListener(r -> {
                if (!r.isSuccess()) {
                    connected.tryFailure(r.cause());
                } else if (!connected.isDone()) {
                    long left = timeoutMillis - TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
                    channel.config().setConnectTimeoutMillis((int) Math.max(1, left));
                    channel.connect(address, connected);
                }
            });
        });
        return connected;
    }

    // ---- shared server caps (max_db_connections, max_user_connections) ----------------------------------------

    private final Map<String, AtomicInteger> dbServers = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> userServers = new ConcurrentHashMap<>();

    /** Counts a new server against its database's and user's caps; false (nothing counted) if either is full. */
    boolean takeServerSlot(Pool pool) {
        PoolSettings s = pool.settings;
        AtomicInteger db = dbServers.computeIfAbsent(pool.key.database(), k -> new AtomicInteger());
        AtomicInteger user = userServers.computeIfAbsent(s.serverUser(), k -> new AtomicInteger());
        if (!increment(db, s.maxDbConnections())) {
            return false;
        }
        if (!increment(user, s.maxUserConnections())) {
            db.decrementAndGet();
            return false;
        }
        return true;
    }

    private static boolean increment(AtomicInteger counter, int cap) {
        while (true) {
            int n = counter.get();
            if (cap > 0 && n >= cap) {
                return false;
            }
            if (counter.compareAndSet(n, n + 1)) {
                return true;
            }
        }
    }

    /** A server of this pool is gone: its slot goes back, and pools waiting at the same caps are woken. */
    void serverSlotFreed(Pool pool) {
        dbServers.get(pool.key.database()).decrementAndGet();
        userServers.get(pool.settings.serverUser()).decrementAndGet();
        for (Pool other : pools.values()) {
            if (other != pool && (other.key.database().equals(pool.key.database())
                    || other.settings.serverUser().equals(pool.settings.serverUser()))) {
                other.slotFreed();
            }
        }
    }

    /** A pool is at a shared cap with clients waiting: sibling pools give up one idle server each. */
    void evictIdleFor(Pool pool) {
        for (Pool other : pools.values()) {
            if (other != pool && (other.key.database().equals(pool.key.database())
                    || other.settings.serverUser().equals(pool.settings.serverUser()))) {
                other.evictOneIdle();
            }
        }
    }

    /**
     * Starts the janitor: every third of a second each pool checks its timeouts and minimum and reserve sizes, and
     * each event loop checks the client-side timeouts of its own clients; every stats_period the averages roll.
     */
    public void startJanitor() {
        stats.start();
        for (int i = 0; i < loops.length; i++) {
            ClientSweep sweep = sweeps[i];
            loops[i].scheduleAtFixedRate(() -> sweep.run(ClientTimeouts.of(config)), 333, 333,
                    java.util.concurrent.TimeUnit.MILLISECONDS);
        }
        workers.next().scheduleAtFixedRate(() -> {
            Config c = config;
            long autodbIdle = c.getMicros("autodb_idle_timeout");
            for (Pool pool : pools.values()) {
                DatabaseEntry db = c.database(pool.key.database());
                boolean auto = !c.databases().containsKey(pool.key.database());
                pool.maintain(loops[0], db != null && db.user() != null, auto ? autodbIdle : 0);
            }
        }, 333, 333, java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    // ---- PAUSE / RESUME ----------------------------------------------------------------------------------------

    /** Databases paused by name; ALL_DATABASES when the whole pooler is. Pools created meanwhile start paused. */
    private final Set<String> paused = ConcurrentHashMap.newKeySet();
    private static final String ALL_DATABASES = "";

    boolean isPaused(String database) {
        return paused.contains(ALL_DATABASES) || paused.contains(database);
    }

    /**
     * PAUSE [db]: no pool of the database (or any) hands out servers until RESUME; {@code onDone} runs once every
     * such pool has closed its servers, that is when running transactions are over.
     */
    public void pause(String database, Runnable onDone) {
        paused.add(database == null ? ALL_DATABASES : database);
        List<Pool> affected = new ArrayList<>();
        for (Pool pool : pools.values()) {
            if (database == null || pool.key.database().equals(database)) {
                affected.add(pool);
            }
        }
        AtomicInteger left = new AtomicInteger(affected.size() + 1);
        Runnable one = () -> {
            if (left.decrementAndGet() == 0) {
                onDone.run();
            }
        };
        affected.forEach(p -> p.pause(one));
        one.run();
    }

    /** RESUME [db]; false if it was not paused. */
    public boolean resume(String database) {
        boolean was = paused.remove(database == null ? ALL_DATABASES : database);
        if (database == null) {
            was |= !paused.isEmpty();
            paused.clear();
        }
        for (Pool pool : pools.values()) {
            if (!isPaused(pool.key.database())) {
                pool.resume();
            }
        }
        return was;
    }

    /**
     * RELOAD: the new snapshot replaces the old whole. Each pool gets its new settings; a pool whose servers would
     * now be elsewhere (host, port, dbname, user, password changed) or whose database is gone is retired, so its
     * idle servers close now and busy ones when released, as PgBouncer's close_needed does. Clients stay connected.
     */
    public void reload(Config next, AuthFile nextAuthFile) {
        this.config = next;
        this.authFile = nextAuthFile;
        authQuery.retireAll("RELOAD");
        for (Pool pool : pools.values()) {
            DatabaseEntry db = next.database(pool.key.database());
            if (db == null) {
                pool.retire("database removed");
                continue;
            }
            PoolSettings old = pool.settings;
            PoolSettings fresh = settings(db, pool.key.database(), pool.key.user(), db.user() != null,
                    pool.key.endpoint());
            boolean moved = !fresh.hosts().equals(old.hosts()) || fresh.port() != old.port()
                    || !fresh.dbname().equals(old.dbname()) || !fresh.serverUser().equals(old.serverUser())
                    || !java.util.Objects.equals(fresh.serverPassword(), old.serverPassword())
                    || !fresh.startupParams().equals(old.startupParams());
            if (moved) {
                pool.retire("database changed by RELOAD");
            } else {
                pool.reconfigure(fresh);
            }
        }
    }

    /**
     * Every pool's SHOW POOLS row, handed to {@code done} once all pools have answered; with PgBouncer's row for the
     * console's own pool (database and user pgbouncer, statement mode), whose active clients are the consoles.
     */
    void poolRows(java.util.function.Consumer<List<Object[]>> done) {
        List<Pool> all = new ArrayList<>(pools.values());
        List<Object[]> rows = java.util.Collections.synchronizedList(new ArrayList<>());
        rows.add(new Object[] {DatabaseEntry.CONSOLE_DATABASE, "pgbouncer", consoleCount(), 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, "statement", null});
        AtomicInteger left = new AtomicInteger(all.size());
        if (all.isEmpty()) {
            done.accept(rows);
            return;
        }
        for (Pool pool : all) {
            pool.snapshot(row -> {
                rows.add(row);
                if (left.decrementAndGet() == 0) {
                    done.accept(new ArrayList<>(rows));
                }
            });
        }
    }

    /** The databases the {@code *} entry made up that have a pool now (PgBouncer's autodbs), sorted. */
    List<String> autodbNames() {
        Config c = config;
        java.util.TreeSet<String> names = new java.util.TreeSet<>();
        for (PoolKey key : pools.keySet()) {
            if (key.endpoint() == null && !c.databases().containsKey(key.database())) {
                names.add(key.database());
            }
        }
        return new ArrayList<>(names);
    }

    /** Server connections of one database (all its pools), for SHOW DATABASES's current_connections. */
    int serverCount(String database) {
        AtomicInteger n = dbServers.get(database);
        return n == null ? 0 : n.get();
    }

    /** Server connections to one router member, open or opening, of every pool (the router's metrics). */
    public int serverCount(Endpoint endpoint) {
        int n = 0;
        for (ServerConnection s : servers) {
            if (endpoint.equals(s.pool().key.endpoint())) {
                n++;
            }
        }
        return n;
    }

    /** Server connections of all pools, open or opening (SHUTDOWN WAIT_FOR_SERVERS waits for none). */
    public int serverCount() {
        int n = 0;
        for (AtomicInteger c : dbServers.values()) {
            n += c.get();
        }
        return n;
    }

    /** An unused pool of an automatic (`*`) database is forgotten; the next client of that database makes a new one. */
    void dropPool(Pool pool) {
        // Its statistics go with it, as PgBouncer frees them with the pool; under the map's lock for this key, so
        // that a new pool of the key made meanwhile gets fresh ones rather than the forgotten ones.
        pools.computeIfPresent(pool.key, (k, current) -> {
            if (current != pool) {
                return current;
            }
            if (k.endpoint() == null) {
                stats.forget(k.database(), k.user());
            }
            log.debug("{}: autodb_idle_timeout, pool dropped", k);
            return null;
        });
    }

    /** Closes idle server connections of every pool (shutdown). */
    public void closeIdleServers(String reason) {
        for (Pool pool : pools.values()) {
            pool.closeIdle(reason);
        }
        authQuery.retireAll(reason);
    }

    // ---- the admin console: connections, DISABLE, RECONNECT, WAIT_CLOSE, KILL, the process ---------------------

    /** Every server connection from its connect until its socket closes (SHOW SERVERS, RECONNECT, WAIT_CLOSE). */
    private final Set<ServerConnection> servers = ConcurrentHashMap.newKeySet();
    /** Admin console connections, which SHOW CLIENTS lists as clients of database pgbouncer. */
    private final Set<ConsoleConnection> consoles = ConcurrentHashMap.newKeySet();
    private final Set<String> disabled = ConcurrentHashMap.newKeySet();
    private final List<WaitClose> waitClosers = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile ProcessControl processControl;
    private volatile boolean shuttingDown;

    /** A WAIT_CLOSE waiting for the close_needed servers of a database (null: of all) to be gone. */
    private static final class WaitClose {
        final String database;
        final Runnable done;

        WaitClose(String database, Runnable done) {
            this.database = database;
            this.done = done;
        }
    }

    void serverOpened(ServerConnection server) {
        servers.add(server);
    }

    void serverGone(ServerConnection server) {
        servers.remove(server);
        if (!waitClosers.isEmpty()) {
            checkWaitClose();
        }
    }

    void consoleOpened(ConsoleConnection console) {
        consoles.add(console);
    }

    void consoleClosed(ConsoleConnection console) {
        consoles.remove(console);
    }

    int consoleCount() {
        return consoles.size();
    }

    /** RELOAD, SET and SHUTDOWN on the console go to the process that runs this pooler, which installs this. */
    public void processControl(ProcessControl control) {
        this.processControl = control;
    }

    ProcessControl processControl() {
        return processControl;
    }

    /** The process is on its way out (SHUTDOWN, SIGINT, SIGTERM): RESUME is refused from now on, as in PgBouncer. */
    public void shuttingDown() {
        shuttingDown = true;
    }

    boolean isShuttingDown() {
        return shuttingDown;
    }

    /** Whether the whole pooler is paused (PAUSE without a database), not just some databases. */
    boolean isPausedAll() {
        return paused.contains(ALL_DATABASES);
    }

    boolean anyPaused() {
        return !paused.isEmpty();
    }

    /** DISABLE db: new logins to it are refused with PgBouncer's text; clients already in stay. */
    void disable(String database) {
        disabled.add(database);
    }

    /** ENABLE db. */
    void enable(String database) {
        disabled.remove(database);
    }

    boolean isDisabled(String database) {
        return disabled.contains(database);
    }

    /** Clients of a database counted against its client cap, SHOW DATABASES's current_client_connections. */
    int clientCount(String database) {
        AtomicInteger n = dbClients.get(database);
        return n == null ? 0 : n.get();
    }

    /** Clients of a user, SHOW USERS's current_client_connections. */
    int userClientCount(String user) {
        AtomicInteger n = userClients.get(user);
        return n == null ? 0 : n.get();
    }

    /** Server connections of a user, all pools, SHOW USERS's current_connections. */
    int userServerCount(String user) {
        AtomicInteger n = userServers.get(user);
        return n == null ? 0 : n.get();
    }

    int poolCount() {
        return pools.size();
    }

    /**
     * Every client, console and server as SHOW CLIENTS, SERVERS, SOCKETS and FDS list them, each read by a task on
     * its own event loop; {@code done} gets them all once the last loop has answered, on that loop.
     */
    void socketRows(java.util.function.Consumer<List<SocketRow>> done) {
        java.util.Queue<SocketRow> rows = new java.util.concurrent.ConcurrentLinkedQueue<>();
        AtomicInteger left = new AtomicInteger(loops.length);
        for (int i = 0; i < loops.length; i++) {
            int index = i;
            EventLoop loop = loops[i];
            loop.execute(() -> {
                long nowNanos = System.nanoTime();
                long nowMillis = System.currentTimeMillis();
                for (ClientConnection c : sweeps[index].snapshot()) {
                    SocketRow row = SocketRow.client(c, trackedParams, nowNanos, nowMillis);
                    if (row != null) {
                        rows.add(row);
                    }
                }
                for (ServerConnection s : servers) {
                    SocketRow row = s.loopIndex() == index ? SocketRow.server(s, trackedParams, nowNanos, nowMillis)
                            : null;
                    if (row != null) {
                        rows.add(row);
                    }
                }
                for (ConsoleConnection c : consoles) {
                    if (c.loop() == loop) {
                        rows.add(c.row());
                    }
                }
                if (left.decrementAndGet() == 0) {
                    done.accept(new ArrayList<>(rows));
                }
            });
        }
    }

    /**
     * KILL [db]: the database (each one, without a name) is paused, and its clients are closed with PgBouncer's
     * "database removed"; their servers close as they come back to the paused pools, idle ones at once.
     */
    void kill(String database) {
        Set<String> names = new java.util.HashSet<>();
        if (database != null) {
            names.add(database);
        } else {
            for (PoolKey key : pools.keySet()) {
                names.add(key.database());
            }
            for (String name : config.databases().keySet()) {
                if (!name.equals(DatabaseEntry.WILDCARD)) {
                    names.add(name);
                }
            }
        }
        for (String name : names) {
            pause(name, () -> { });
        }
        pgsvc.protocol.ErrorFields removed = pgsvc.protocol.ErrorFields.fatal("08P01", "database removed");
        for (int i = 0; i < loops.length; i++) {
            ClientSweep sweep = sweeps[i];
            loops[i].execute(() -> {
                for (ClientConnection c : sweep.snapshot()) {
                    String list = c.listName();
                    if (list != null && !list.equals("login") && names.contains(c.database())) {
                        c.fail(removed);
                    }
                }
            });
        }
    }

    /**
     * KILL_CLIENT id: closes that client (a console too) with "admin forced disconnect"; {@code done} learns whether
     * there was one, on the loop that answered last.
     */
    void killClient(long id, java.util.function.Consumer<Boolean> done) {
        for (ConsoleConnection console : consoles) {
            if (console.id() == id) {
                console.kill("admin forced disconnect");
                done.accept(true);
                return;
            }
        }
        pgsvc.protocol.ErrorFields forced = pgsvc.protocol.ErrorFields.fatal("08P01", "admin forced disconnect");
        withClient(id, c -> c.fail(forced), done);
    }

    /**
     * Runs {@code action} on the logged-in client of SHOW CLIENTS's id {@code id}, on its event loop; {@code done}
     * learns whether there was one, once every loop has looked.
     */
    void withClient(long id, java.util.function.Consumer<ClientConnection> action,
            java.util.function.Consumer<Boolean> done) {
        AtomicInteger left = new AtomicInteger(loops.length);
        java.util.concurrent.atomic.AtomicBoolean found = new java.util.concurrent.atomic.AtomicBoolean();
        for (int i = 0; i < loops.length; i++) {
            ClientSweep sweep = sweeps[i];
            loops[i].execute(() -> {
                for (ClientConnection c : sweep.snapshot()) {
                    String list = c.listName();
                    if (c.id() == id && list != null && !list.equals("login")) {
                        found.set(true);
                        action.accept(c);
                    }
                }
                if (left.decrementAndGet() == 0) {
                    done.accept(found.get());
                }
            });
        }
    }

    /**
     * RECONNECT [db]: every logged-in server of the database (or all) is marked close_needed; idle ones close now,
     * busy ones when released, and new ones are opened as clients need them.
     */
    void reconnect(String database) {
        for (ServerConnection s : servers) {
            if (s.isLoggedIn() && (database == null || s.pool().key.database().equals(database))) {
                s.closeNeeded = true;
            }
        }
        for (Pool pool : pools.values()) {
            if (database == null || pool.key.database().equals(database)) {
                pool.closeIdle("obsolete connection");
            }
        }
    }

    /** A retired pool's servers are close_needed too, which SHOW SERVERS and WAIT_CLOSE see. */
    void markCloseNeeded(Pool pool) {
        for (ServerConnection s : servers) {
            if (s.pool() == pool) {
                s.closeNeeded = true;
            }
        }
    }

    /** WAIT_CLOSE [db]: {@code done} runs once no server of the database (or any) is close_needed any more. */
    void waitClose(String database, Runnable done) {
        waitClosers.add(new WaitClose(database, done));
        checkWaitClose();
    }

    private void checkWaitClose() {
        for (WaitClose w : waitClosers) {
            if (!closeNeeded(w.database) && waitClosers.remove(w)) {
                w.done.run();
            }
        }
    }

    private boolean closeNeeded(String database) {
        for (ServerConnection s : servers) {
            if (s.closeNeeded && (database == null || s.pool().key.database().equals(database))) {
                return true;
            }
        }
        return false;
    }
}
