package pgsvc.pooler;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.handler.ssl.NotSslRecordException;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.config.DatabaseEntry;
import pgsvc.pooler.config.PoolMode;
import pgsvc.pooler.tls.Tls;
import pgsvc.pooler.tls.TlsInfo;
import pgsvc.protocol.CancelRequest;
import pgsvc.protocol.ErrorFields;
import pgsvc.protocol.FrameDecoder;
import pgsvc.protocol.Framer;
import pgsvc.protocol.GssEncRequest;
import pgsvc.protocol.Messages;
import pgsvc.protocol.ParameterStatus;
import pgsvc.protocol.ProtocolException;
import pgsvc.protocol.SslRequest;
import pgsvc.protocol.StartupDecoder;
import pgsvc.protocol.StartupMessage;

/**
 * One client connection, from startup packet to close. Everything about the client's link to a server (which server,
 * how many ReadyForQuery are still due, the transaction status) lives here and is touched only on the client's
 * event loop; the server's reads are handed over to this loop when the two live on different loops.
 */
final class ClientConnection extends ChannelInboundHandlerAdapter implements WaitQueue.Waiter {
    private static final Logger log = LoggerFactory.getLogger(ClientConnection.class);

    private enum State { STARTUP, AUTH, ROUTING, WAIT_WELCOME, IDLE, WAITING, LINKED, CLOSED }

    private final Pooler pooler;
    private Route route;
    /** The pool whose cl_waiting counts this client while its route has no member (ROUTING); null otherwise. */
    private Pool routingIn;
    private final long id;
    private Channel channel;
    private EventLoop loop;
    private int loopIndex;
    private State state = State.STARTUP;

    private String user;
    private String database;
    private DatabaseEntry dbEntry;
    private final String[] vars;
    private final long cancelKey;
    private Pool pool;
    private PoolMode mode;
    private Authenticator auth;
    private boolean welcomed;

    /** Client messages read while no server was linked, in order. */
    private final ArrayDeque<ByteBuf> pending = new ArrayDeque<>(2);
    private int pendingBytes;
    /** How much a client may send while it waits for a server before pgsvc stops reading it. */
    private static final int PENDING_LIMIT = 64 * 1024;
    private volatile ServerConnection server;
    private int expectedReadyForQuery;
    private boolean unsynced;
    private byte txStatus = 'I';
    private boolean settingVars;
    private boolean flushServer;
    private ScheduledFuture<?> waitTimer;
    private ScheduledFuture<?> loginTimer;

    private final Splice serverOut = new Splice(this::send);
    private final Splice clientOut = new Splice(this::write);
    /**
     * Writes and flushes of forwarded data skip the pipeline through these ({@link WriteThrough#direct}): this
     * channel's, known from the first link on, and the linked server's while it shares our loop. Null: the pipeline.
     */
    private WriteThrough toClient;
    private boolean toClientKnown;
    private WriteThrough toLinked;
    /** Named prepared statements (max_prepared_statements); created at the first link that tracks them. */
    private StatementTracker statements;
    /** Whether this link renames the client's prepared statements (transaction and statement mode). */
    private boolean tracking;

    /** The database and user whose client caps count this client (Pooler.admitClient), until it closes. */
    String countedDatabase;
    String countedUser;
    /**
     * Place and start of this client's wait in a pool's WaitQueue; set in the pool's executor, and waitStart read and
     * cleared on this client's loop when the hand-off brings the server (for SHOW STATS's wait_time).
     */
    private long waitSeq;
    private long waitStart;
    /** Position in this loop's client list, which the timeout sweep walks; -1 when not listed. */
    int sweepIndex = -1;
    /** System.nanoTime() of the client's last request, of the server's last ReadyForQuery inside a transaction,
     *  and of the request that opened the current transaction (0: none open). */
    private long requestTime;
    private final long connectMillis = System.currentTimeMillis();
    private long serverReadyTime;
    private long xactStart;
    /** System.nanoTime() of the request that started the query under way (0: none), for SHOW STATS's query_time. */
    private long queryStart;
    /** The linked pool's statistics slot for this client's loop, set at each server assignment. */
    private PoolStats.Slot stats;
    /** Whether this client was told, in its current wait, that it is queued (query_wait_notify). */
    private boolean waitNotified;
    /** Whether this client's SSLRequest was answered 'S' (a TLS connection without it came with direct TLS). */
    private boolean sslAnswered;
    /** disable_pqexec, read once: it needs a restart to change. */
    private boolean noSimpleQuery;
    /**
     * Frames what the client sends after its StartupMessage: this handler reads the socket's raw bytes (the startup
     * decoder removes itself, and no FrameDecoder takes its place). The console takes it over with the connection.
     */
    private final Framer framer;
    private boolean consoleTookOver;

    ClientConnection(Pooler pooler, Route route) {
        this.pooler = pooler;
        this.route = route;
        this.framer = new Framer(pooler.maxPacketSize());
        this.id = pooler.nextId();
        this.vars = pooler.trackedParams().newValues();
        this.cancelKey = pooler.newCancelKey();
    }

    long id() {
        return id;
    }

    EventLoop loop() {
        return loop;
    }

    @Override
    public int loopIndex() {
        return loopIndex;
    }

    @Override
    public long waitSeq() {
        return waitSeq;
    }

    @Override
    public void waitSeq(long seq) {
        waitSeq = seq;
    }

    @Override
    public long waitStart() {
        return waitStart;
    }

    @Override
    public void waitStart(long nanos) {
        waitStart = nanos;
    }

    long cancelKey() {
        return cancelKey;
    }

    ServerConnection linkedServer() {
        return server;
    }

    // ---- what the console shows (SHOW CLIENTS, KILL); read on this client's loop ----------------------------------

    String user() {
        return user;
    }

    String database() {
        return database;
    }

    Channel channel() {
        return channel;
    }

    /** Wall-clock time of the accept, SHOW CLIENTS's connect_time. */
    long connectMillis() {
        return connectMillis;
    }

    /** System.nanoTime() of the client's last request (or of its connect), SHOW CLIENTS's request_time. */
    long requestNanos() {
        return requestTime;
    }

    /** PgBouncer's list for this client: login, active (linked, or idle between transactions) or waiting. */
    String listName() {
        return switch (state) {
            case STARTUP, AUTH -> "login";
            case IDLE, LINKED -> "active";
            case ROUTING, WAIT_WELCOME, WAITING -> "waiting";
            case CLOSED -> null;
        };
    }

    String trackedValue(int index) {
        return vars[index];
    }

    int preparedStatementCount() {
        return statements == null ? 0 : statements.count();
    }

    private String who() {
        SocketAddress remote = channel == null ? null : channel.remoteAddress();
        String addr = remote instanceof InetSocketAddress in
                ? in.getAddress().getHostAddress() + ":" + in.getPort() : "unix";
        return "C-" + id + ": " + (database == null ? "(nodb)" : database) + "/"
                + (user == null ? "(nouser)" : user) + "@" + addr;
    }

    // ---- channel events -------------------------------------------------------------------------------------------

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        channel = ctx.channel();
        loop = ctx.channel().eventLoop();
        loopIndex = pooler.loopIndex(loop);
        requestTime = System.nanoTime();
        noSimpleQuery = pooler.config().getBool("disable_pqexec");
        pooler.clientOpened(this);
        long timeout = pooler.config().getMicros("client_login_timeout");
        if (timeout > 0) {
            loginTimer = loop.schedule(() -> {
                if (state.ordinal() < State.IDLE.ordinal()) {
                    fatal("08P01", state == State.WAIT_WELCOME
                            ? "client_login_timeout (server down)" : "client_login_timeout");
                }
            }, timeout, TimeUnit.MICROSECONDS);
        }
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf read) {
            ByteBuf batch = framer.frame(ctx.alloc(), read);
            if (batch != null) {
                clientData(batch);
            }
            ProtocolException failure = framer.failure();
            if (failure != null) {
                if (consoleTookOver) {
                    // The batch logged the console in; the bad frame after it is the console's to answer.
                    ctx.pipeline().fireExceptionCaught(failure);
                } else {
                    exceptionCaught(ctx, failure);
                }
            }
        } else if (msg instanceof StartupMessage startup) {
            startup(startup);
        } else if (msg == SslRequest.INSTANCE) {
            sslRequest(ctx);
        } else if (msg == GssEncRequest.INSTANCE) {
            // No GSSAPI encryption, as in PgBouncer: 'N' tells the client to carry on without.
            ctx.writeAndFlush(ctx.alloc().buffer(1).writeByte('N'));
        } else if (msg instanceof CancelRequest cancel) {
            pooler.cancel(cancel.processId(), cancel.secretKey());
            ctx.close();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        framer.readComplete(ctx);
        ServerConnection s = server;
        if (flushServer && s != null) {
            flushServer = false;
            flushLinked(s);
            if (!s.channel().isWritable()) {
                ctx.channel().config().setAutoRead(false);
                if (s.channel().isWritable()) {
                    ctx.channel().config().setAutoRead(true);
                }
            }
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        ServerConnection s = server;
        if (s != null) {
            // Backpressure: the server is read only while this client can take more.
            s.channel().config().setAutoRead(ctx.channel().isWritable());
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        framer.release();
        State was = state;
        state = State.CLOSED;
        cancelTimers();
        releasePending();
        pooler.clientClosed(this);
        leavePool(was);
        if (was.ordinal() >= State.IDLE.ordinal() && pooler.config().getBool("log_disconnections")) {
            log.info("{} closing because: client close request ({})", who(), age());
        }
    }

    /** PgBouncer's "(age=Ns)" after a closing reason: how long the client was connected, in whole seconds. */
    private String age() {
        return "age=" + (System.currentTimeMillis() - connectMillis) / 1000 + "s";
    }

    /**
     * SSLRequest: 'S' and a TLS handshake when client_tls_sslmode is not disable and the client came over TCP, else
     * 'N'. The 'S' goes out in plaintext before the TLS handler is put in front of the startup decoder; what the
     * client sends next must be its handshake, so a client that goes on in plaintext fails the handshake.
     */
    private void sslRequest(ChannelHandlerContext ctx) {
        if (TlsInfo.encrypted(ctx.channel())) {
            log.info("{} closing because: SSL req inside SSL", who());
            ctx.close();
            return;
        }
        Tls tls = pooler.tls();
        if (!tls.acceptsClients() || !(ctx.channel().remoteAddress() instanceof InetSocketAddress)) {
            ctx.writeAndFlush(ctx.alloc().buffer(1).writeByte('N'));
            return;
        }
        sslAnswered = true;
        ctx.writeAndFlush(ctx.alloc().buffer(1).writeByte('S'));
        ChannelHandlerContext decoder = ctx.pipeline().context(StartupDecoder.class);
        ctx.pipeline().addBefore(decoder.name(), StartupDecoder.TLS_NAME, tls.newClientHandler(ctx.alloc()));
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof SslHandshakeCompletionEvent done && !done.isSuccess()) {
            // PgBouncer's warning. A client that asked for TLS and then went on in plaintext is one; its bytes,
            // which Netty's message would dump, stay out of the log.
            Throwable cause = done.cause();
            log.warn("{} TLS handshake error: {}", who(), cause instanceof NotSslRecordException
                    ? "not an SSL/TLS record" : cause.getMessage());
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof ProtocolException pe) {
            log.warn("{} closing because: {}", who(), pe.getMessage());
            fatal(pe.sqlState(), pe.getMessage());
        } else {
            log.debug("{} closing because: {}", who(), cause.toString());
            ctx.close();
        }
    }

    // ---- login ----------------------------------------------------------------------------------------------------

    private void startup(StartupMessage startup) {
        boolean tcp = channel.remoteAddress() instanceof InetSocketAddress;
        if (tcp && !TlsInfo.encrypted(channel) && pooler.tls().clientMode().required()) {
            fatal("08P01", "SSL required");
            return;
        }
        if (TlsInfo.encrypted(channel) && !sslAnswered) {
            SslHandler tlsHandler = channel.pipeline().get(SslHandler.class);
            if (!Tls.ALPN_POSTGRESQL.equals(tlsHandler.applicationProtocol())) {
                // PostgreSQL 17's rule: direct TLS needs ALPN; without it the client may not be a PostgreSQL one.
                log.warn("{} closing because: received direct SSL connection request without ALPN protocol "
                        + "negotiation extension", who());
                channel.close();
                return;
            }
        }
        int major = startup.protocolVersion() >>> 16;
        if (major != 3) {
            fatal("08P01", major < 3 ? "old V2 protocol not supported"
                    : "unsupported frontend protocol " + major + "." + (startup.protocolVersion() & 0xffff));
            return;
        }
        Map<String, String> params = startup.parameters();
        user = params.get("user");
        if (user == null || user.isEmpty()) {
            fatal("08P01", "no username supplied");
            return;
        }
        database = params.getOrDefault("database", user);
        if (database.isEmpty()) {
            database = user;
        }
        List<String> unsupportedProtocolOptions = new java.util.ArrayList<>();
        for (Map.Entry<String, String> p : params.entrySet()) {
            String key = p.getKey();
            if (key.equals("user") || key.equals("database")) {
                continue;
            }
            if (key.startsWith("_pq_.")) {
                unsupportedProtocolOptions.add(key);
                continue;
            }
            String problem = startupParameter(key, p.getValue());
            if (problem != null) {
                fatal("08P01", problem);
                return;
            }
        }
        if (pooler.config().getBool("application_name_add_host")) {
            addHostToApplicationName();
        }
        if ((startup.protocolVersion() & 0xffff) != 0 || !unsupportedProtocolOptions.isEmpty()) {
            channel.write(Messages.negotiateProtocolVersion(channel.alloc(), 0, unsupportedProtocolOptions));
        }
        boolean console = database.equals("pgbouncer");
        if (!console && pooler.clientCount() > pooler.config().maxClientConn()) {
            fatal("08P01", "no more connections allowed (max_client_conn)");
            return;
        }
        dbEntry = console ? null : pooler.config().database(database);
        if (dbEntry != null) {
            String full = pooler.admitClient(this, dbEntry, database, user);
            if (full != null) {
                fatal("08P01", "client connections exceeded (" + full + ")");
                return;
            }
        }
        if (console && user.equals("pgbouncer") && Authenticator.ownUserOnUnixSocket(channel)) {
            if (pooler.config().getBool("log_connections")) {
                log.info("{} pgbouncer access from unix socket", who());
            }
            state = State.AUTH;
            openConsole(true);
            return;
        }
        auth = new Authenticator(pooler, user, database, channel);
        state = State.AUTH;
        // A user that auth_file does not list may be looked up with auth_query first; that answer comes later.
        Authenticator lookingUp = auth;
        auth.lookUp(dbEntry, loop, failure -> {
            if (auth != lookingUp || state != State.AUTH) {
                return;
            }
            if (failure != null) {
                log.info("{} login failed: {}", who(), failure.message());
                fatal(failure.sqlState(), failure.message());
                return;
            }
            Authenticator.Step step = auth.begin(channel.alloc());
            if (step.error() != null) {
                fatal("08P01", step.error());
            } else if (step.done()) {
                authenticated();
            } else {
                channel.writeAndFlush(step.reply());
            }
        });
    }

    /** application_name_add_host: "app - addr:port", so PostgreSQL's sessions say which client they serve. */
    private void addHostToApplicationName() {
        int idx = pooler.trackedParams().indexOf("application_name");
        if (idx < 0) {
            return;
        }
        String app = vars[idx] == null ? "app" : vars[idx];
        SocketAddress remote = channel.remoteAddress();
        String details;
        if (remote instanceof InetSocketAddress in) {
            String host = in.getAddress().getHostAddress();
            details = (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + in.getPort();
        } else {
            details = "unix:" + pooler.config().listenPort();
        }
        vars[idx] = app + " - " + details;
    }

    /** Returns the error text for a startup parameter PgBouncer would refuse, else records it and returns null. */
    private String startupParameter(String key, String value) {
        int idx = pooler.trackedParams().indexOf(key);
        if (idx >= 0) {
            vars[idx] = pooler.trackedParams().canonical(value);
            return null;
        }
        if (pooler.config().ignoreStartupParameters().contains(key.toLowerCase(Locale.ROOT))) {
            return null;
        }
        if (key.equals("options")) {
            return options(value);
        }
        return "unsupported startup parameter: " + key;
    }

    /** The `options` startup parameter: only `-c name=value` and `--name=value` items of tracked parameters. */
    private String options(String value) {
        String[] words = value.trim().split("\\s+");
        for (int i = 0; i < words.length; i++) {
            String w = words[i];
            if (w.isEmpty()) {
                continue;
            }
            String setting;
            if (w.equals("-c") && i + 1 < words.length) {
                setting = words[++i];
            } else if (w.startsWith("-c") && w.length() > 2) {
                setting = w.substring(2);
            } else if (w.startsWith("--")) {
                setting = w.substring(2);
            } else {
                return "unsupported options startup parameter: only '-c config=val' and '--config=val' are allowed";
            }
            int eq = setting.indexOf('=');
            if (eq <= 0) {
                return "unsupported options startup parameter: only '-c config=val' and '--config=val' are allowed";
            }
            String name = setting.substring(0, eq).replace('-', '_');
            int idx = pooler.trackedParams().indexOf(name);
            if (idx < 0) {
                return "unsupported startup parameter in options: " + name;
            }
            vars[idx] = pooler.trackedParams().canonical(setting.substring(eq + 1));
        }
        return null;
    }

    private void authMessage(ByteBuf batch) {
        for (int i = batch.readerIndex(); i < batch.writerIndex(); i += FrameDecoder.frameLength(batch, i)) {
            if (state != State.AUTH) {
                fatal("08P01", "client sent data before login finished");
                return;
            }
            ByteBuf frame = batch.slice(i, FrameDecoder.frameLength(batch, i));
            if (frame.getByte(0) != 'p') {
                fatal("08P01", "unexpected message during authentication: " + (char) frame.getByte(0));
                return;
            }
            Authenticator.Step step = auth.next(channel.alloc(), frame);
            if (step.error() != null) {
                log.info("{} login failed: {}", who(), step.error());
                fatal("08P01", step.error());
                return;
            }
            if (step.reply() != null) {
                channel.writeAndFlush(step.reply());
            }
            if (step.done()) {
                authenticated();
            }
        }
    }

    private void authenticated() {
        auth = null;
        if (database.equals("pgbouncer")) {
            enterConsole();
            return;
        }
        if (dbEntry == null) {
            fatal("08P01", "no such database: " + database);
            return;
        }
        if (pooler.isDisabled(database)) {
            fatal("08P01", "database \"" + database + "\" is disabled");
            return;
        }
        if (route == null) {
            route = pooler.routeFor(dbEntry);
        }
        if (!pooler.registerCancelKey(this)) {
            fatal("08P01", "cancel key collision, try again");
            return;
        }
        if (pooler.config().getBool("log_connections")) {
            String tlsInfo = TlsInfo.describe(channel);
            log.info("{} login attempt: db={} user={} tls={}", who(), database, user,
                    tlsInfo.isEmpty() ? "no" : tlsInfo);
        }
        welcomed = false;
        // Reading goes on while the first server is found: what a client sends before its welcome is held back
        // (holdBack), and turning reading off and on would cost two epoll_ctl calls a login.
        requestServer();
    }

    /** The admin console: admin_users may run everything, stats_users SHOW only; anyone else is refused. */
    private void enterConsole() {
        boolean admin = pooler.config().adminUsers().contains(user);
        boolean stats = admin || pooler.config().statsUsers().contains(user) || pooler.config().authType().equals("any");
        if (!stats) {
            fatal("08P01", "not allowed");
            return;
        }
        openConsole(admin);
    }

    private void openConsole(boolean admin) {
        cancelLoginTimer();
        // The console is not a pooled client: it does not count against max_client_conn.
        pooler.clientClosed(this);
        state = State.CLOSED;
        ConsoleConnection console = new ConsoleConnection(pooler, user, admin, id, connectMillis, framer);
        consoleTookOver = true;
        channel.pipeline().replace(this, "console", console);
        console.welcome(channel.pipeline().context(console), cancelKey);
    }

    /**
     * Finds the pool for the next server and queues there; before the welcome, a pool that already knows its
     * ParameterStatus set welcomes the client at once and needs no server yet.
     */
    private void requestServer() {
        if (!choosePool()) {
            return;
        }
        if (!welcomed && pool.welcome() != null) {
            welcome(pool.welcome());
            welcomed = true;
            if (pending.isEmpty()) {
                state = State.IDLE;
                channel.config().setAutoRead(true);
                return;
            }
        }
        // Without a welcome yet, the first server of this pool supplies the ParameterStatus set.
        state = welcomed ? State.WAITING : State.WAIT_WELCOME;
        pool.acquire(this);
    }

    private void welcome(Welcome set) {
        cancelLoginTimer();
        if (route != null && route.readOnly()) {
            // Told at login and set on every server it uses, so that SHOW and the server agree with the client.
            vars[pooler.trackedParams().indexOf("default_transaction_read_only")] = "on";
        }
        ByteBuf out = channel.alloc().buffer(set.size() + 64);
        Messages.authenticationOk(out);
        set.write(out, vars);
        Messages.backendKeyData(out, (int) (cancelKey >>> 32), (int) cancelKey);
        Messages.readyForQuery(out, (byte) 'I');
        channel.writeAndFlush(out);
    }

    /**
     * Picks the pool for the next server: the database entry's own, or, behind a router service, the pool of the
     * member the route chooses now, so that transactions follow a failover without the client reconnecting.
     */
    private boolean choosePool() {
        if (route == null && pool != null && !pool.isRetired()) {
            // The same pool as last time: RELOAD reconfigures a pool in place, or retires it when it moved.
            mode = pool.settings.mode();
            return true;
        }
        Endpoint endpoint = null;
        if (route != null) {
            endpoint = route.select();
            if (endpoint == null) {
                awaitMember();
                return false;
            }
            if (pool != null && endpoint.equals(pool.key.endpoint()) && !pool.isRetired()) {
                return true;
            }
        }
        if (route == null && pool != null) {
            // Its pool was retired by a RELOAD that moved the database: the next pool is the entry's as it is now,
            // or the client (and every later one) would keep going where the database was.
            DatabaseEntry current = pooler.config().database(database);
            if (current != null) {
                dbEntry = current;
            }
        }
        Pool next = pooler.pool(dbEntry, database, user, endpoint);
        if (next != pool) {
            // SHOW POOLS counts a logged-in client in the pool it chose last, from login on (PgBouncer attaches it
            // at login); a move is rare (first choice, a failover, a RELOAD), never per transaction.
            if (pool != null) {
                pool.clientLeft(this, state == State.WAITING || state == State.WAIT_WELCOME);
            }
            next.clientJoined();
            pool = next;
        }
        mode = pool.settings.mode();
        return true;
    }

    /**
     * No member can serve the route now (a failover is under way): wait for the members' next change, within
     * query_wait_timeout, rather than fail; the same wait as for a busy pool, from the client's side.
     */
    private void awaitMember() {
        countRouting(pool);
        if (state != State.ROUTING) {
            state = State.ROUTING;
            long timeout = pooler.config().getMicros("query_wait_timeout");
            if (timeout > 0) {
                waitTimer = loop.schedule(() -> {
                    if (state == State.ROUTING) {
                        fatal("08P01", "query_wait_timeout");
                    }
                }, timeout, TimeUnit.MICROSECONDS);
            }
        }
        route.whenChanged(this::reroute);
        if (route.select() != null) {
            // A member came up between the choice and the registration: no need to wait for the next change.
            reroute();
        }
    }

    /** The pool this client waits for was retired, or the members changed: choose again where it stands now. */
    void reroute() {
        if (!loop.inEventLoop()) {
            loop.execute(this::reroute);
            return;
        }
        if (state != State.WAITING && state != State.WAIT_WELCOME && state != State.ROUTING) {
            return;
        }
        if (state != State.ROUTING && !pool.isRetired()) {
            // Still in the queue of a pool that serves its route: a topology callback left over from awaitMember
            // (registered, then made moot by the member found at once) must not queue the client a second time.
            // A retired pool's waiters are taken out of its queue before they are rerouted.
            return;
        }
        if (waitTimer != null) {
            waitTimer.cancel(false);
            waitTimer = null;
        }
        // Counted again at once if there is still no member.
        countRouting(null);
        requestServer();
    }

    /** Moves this client's ROUTING count to {@code in} (null: counted nowhere), from the client's loop. */
    private void countRouting(Pool in) {
        Pool was = routingIn;
        if (was != in) {
            if (was != null) {
                was.clientRouting(false);
            }
            if (in != null) {
                in.clientRouting(true);
            }
            routingIn = in;
        }
    }

    // ---- client -> server -----------------------------------------------------------------------------------------

    private void clientData(ByteBuf batch) {
        switch (state) {
            case AUTH -> {
                try {
                    authMessage(batch);
                } finally {
                    batch.release();
                }
            }
            case LINKED -> {
                if (simpleQueryRefused(batch)) {
                    return;
                }
                request();
                if (settingVars || !pending.isEmpty()) {
                    // Linked, but the pooler's SET for this client runs first and what was read before waits:
                    // this batch goes after them, in order.
                    holdBack(batch);
                } else {
                    toServer(batch);
                }
            }
            case IDLE -> {
                if (batch.getByte(batch.readerIndex()) == 'X') {
                    batch.release();
                    channel.close();
                    return;
                }
                if (simpleQueryRefused(batch)) {
                    return;
                }
                request();
                // Reading goes on while a server is found, usually at once: switching it off and on would cost two
                // epoll_ctl calls per transaction. A client that sends much before it has a server is stopped.
                pending.addLast(batch);
                pendingBytes = batch.readableBytes();
                requestServer();
            }
            case WAITING, WAIT_WELCOME, ROUTING -> holdBack(batch);
            default -> batch.release();
        }
    }

    /** Keeps a batch until a server can take it; a client that sends too much meanwhile is no longer read. */
    private void holdBack(ByteBuf batch) {
        pending.addLast(batch);
        pendingBytes += batch.readableBytes();
        if (pendingBytes > PENDING_LIMIT) {
            channel.config().setAutoRead(false);
        }
    }

    /** disable_pqexec: a simple Query ends the client, as PgBouncer does, so multi-statement strings never run. */
    private boolean simpleQueryRefused(ByteBuf batch) {
        if (!noSimpleQuery) {
            return false;
        }
        for (int i = batch.readerIndex(); i < batch.writerIndex(); i += FrameDecoder.frameLength(batch, i)) {
            if (batch.getByte(i) == 'Q') {
                batch.release();
                log.error("{} client used \"Query\" packet type", who());
                fatal("08P01", "PQexec disallowed");
                return true;
            }
        }
        return false;
    }

    /** Notes the time of a client request, which starts the transaction's clock when none is open. */
    private void request() {
        long now = System.nanoTime();
        requestTime = now;
        if (xactStart == 0) {
            xactStart = now;
        }
        if (queryStart == 0) {
            queryStart = now;
        }
    }

    /**
     * Forwards whole frames to the linked server, noting what each one makes the server owe us; with prepared
     * statements tracked, frames naming them go out rewritten, through a {@link Splice}.
     */
    private void toServer(ByteBuf batch) {
        stats.received(batch.readableBytes());
        Splice out = serverOut;
        out.begin(batch);
        int end = batch.writerIndex();
        for (int i = batch.readerIndex(); i < end; ) {
            int length = FrameDecoder.frameLength(batch, i);
            byte type = batch.getByte(i);
            switch (type) {
                case 'Q', 'F' -> expectedReadyForQuery++;
                case 'S' -> {
                    expectedReadyForQuery++;
                    unsynced = false;
                }
                case 'P', 'B', 'D', 'E', 'C', 'H' -> unsynced = true;
                case 'X' -> {
                    // Terminate is the client's goodbye, never the server's: stop forwarding here and close.
                    out.finish(i);
                    flushServerNow();
                    channel.close();
                    return;
                }
                default -> {
                }
            }
            if (tracking) {
                statements.clientMessage(batch, i, length, type, out);
            }
            i += length;
        }
        out.finish(end);
        if (tracking && statements.takeClientFlush()) {
            flushClient();
        }
    }

    /** Writes to the linked server; the flush comes at the end of the client's read (or of the drain). */
    private void send(ByteBuf data) {
        WriteThrough w = toLinked;
        if (w != null) {
            w.write(data);
        } else {
            Channel out = server.channel();
            out.write(data, out.voidPromise());
        }
        flushServer = true;
    }

    private void write(ByteBuf data) {
        WriteThrough w = toClient;
        if (w != null) {
            w.write(data);
        } else {
            channel.write(data, channel.voidPromise());
        }
    }

    // ---- server assignment ----------------------------------------------------------------------------------------

    /** Called on this client's loop once the pool has given it a server. */
    void serverAssigned(ServerConnection s) {
        if (state == State.CLOSED) {
            s.unassign();
            pool.release(s);
            return;
        }
        if (!s.channel().isActive()) {
            // It closed between the pool's choice and this hand-off, on its own loop, before it knew of us: its
            // close reaches the pool, and this client hears of it as a linked one would, instead of waiting on it.
            s.unassign();
            fatal("08P01", "server conn crashed?");
            return;
        }
        if (waitTimer != null) {
            waitTimer.cancel(false);
            waitTimer = null;
        }
        waitNotified = false;
        server = s;
        if (!toClientKnown) {
            // The pipeline is settled by now: TLS, if any, was set up before the login.
            toClient = WriteThrough.direct(channel);
            toClientKnown = true;
        }
        toLinked = s.loopIndex() == loopIndex ? s.out : null;
        stats = s.pool().stats.slot(loopIndex);
        // waitStart was set by the pool's queue, if the client had to queue; a free server leaves it 0.
        stats.assigned(waitStart);
        waitStart = 0;
        expectedReadyForQuery = 0;
        unsynced = false;
        txStatus = 'I';
        linkStatements(s);
        s.channel().config().setAutoRead(channel.isWritable());
        if (state == State.WAIT_WELCOME) {
            Welcome set = pool.welcome();
            welcome(set != null ? set : new Welcome(s.parameters(), pooler.trackedParams()));
            welcomed = true;
        }
        state = State.LINKED;
        String set = pooler.trackedParams().setStatements(vars, s.tracked);
        if (set != null) {
            settingVars = true;
            send(Messages.query(channel.alloc(), set));
            flushServerNow();
            return;
        }
        drainPending();
    }

    /**
     * Prepared statements are renamed in transaction and statement mode when max_prepared_statements is on, and
     * for as long as the client has some (after a RELOAD turned it off); session mode passes everything through.
     */
    private void linkStatements(ServerConnection s) {
        int max = pool.settings.maxPreparedStatements();
        tracking = mode != PoolMode.SESSION && (max > 0 || statements != null && statements.hasStatements());
        if (tracking) {
            if (statements == null) {
                statements = new StatementTracker(pooler.preparedStatements(), channel);
            }
            statements.link(s.statements, max, stats);
        }
    }

    private void unlinkStatements() {
        if (tracking) {
            tracking = false;
            statements.unlink();
        }
    }

    private void drainPending() {
        boolean sent = !pending.isEmpty();
        ByteBuf batch;
        while (state == State.LINKED && (batch = pending.pollFirst()) != null) {
            toServer(batch);
        }
        if (state != State.LINKED) {
            return;
        }
        flushServerNow();
        pendingBytes = 0;
        channel.config().setAutoRead(true);
        if (!sent) {
            maybeRelease(System.nanoTime());
        }
    }

    private void flushServerNow() {
        ServerConnection s = server;
        if (flushServer && s != null) {
            flushServer = false;
            flushLinked(s);
        }
    }

    private void flushLinked(ServerConnection s) {
        WriteThrough w = toLinked;
        if (w != null) {
            w.flush();
        } else {
            s.channel().flush();
        }
    }

    private void flushClient() {
        WriteThrough w = toClient;
        if (w != null) {
            w.flush();
        } else {
            channel.flush();
        }
    }

    // ---- server -> client -----------------------------------------------------------------------------------------

    /** A batch of whole frames from the linked server; runs on the server's loop and hops to ours if needed. */
    void serverData(ServerConnection from, ByteBuf batch) {
        if (loop.inEventLoop()) {
            fromServer(from, batch);
        } else {
            loop.execute(() -> {
                fromServer(from, batch);
                flushClient();
            });
        }
    }

    void serverReadComplete(ServerConnection from) {
        if (loop.inEventLoop() && server == from) {
            flushClient();
            if (!channel.isWritable()) {
                from.channel().config().setAutoRead(false);
                if (channel.isWritable()) {
                    from.channel().config().setAutoRead(true);
                }
            }
        }
    }

    /** Backpressure the other way: this client is read only while its server can take more. */
    void serverWritabilityChanged(ServerConnection from) {
        if (!loop.inEventLoop()) {
            loop.execute(() -> serverWritabilityChanged(from));
            return;
        }
        // Read the current writability here: by the time this runs on our loop the event may be stale.
        if (state == State.LINKED && server == from) {
            channel.config().setAutoRead(from.channel().isWritable());
        }
    }

    private void fromServer(ServerConnection from, ByteBuf batch) {
        if (server != from || state != State.LINKED) {
            batch.release();
            return;
        }
        if (settingVars) {
            setReply(from, batch);
            return;
        }
        stats.sent(batch.readableBytes());
        Splice out = clientOut;
        out.begin(batch);
        int end = batch.writerIndex();
        boolean releasable = false;
        long now = 0;
        for (int i = batch.readerIndex(); i < end; ) {
            int length = FrameDecoder.frameLength(batch, i);
            byte type = batch.getByte(i);
            if (type == 'Z') {
                txStatus = batch.getByte(i + 5);
                if (mode == PoolMode.STATEMENT && txStatus != 'I') {
                    // PgBouncer puts its FATAL where this ReadyForQuery would be, so the BEGIN itself fails.
                    out.finish(i);
                    ServerConnection s = server;
                    server = null;
                    unlinkStatements();
                    s.unassign();
                    s.close("transaction blocks not allowed in statement pooling mode");
                    fatal("08P01", "transaction blocks not allowed in statement pooling mode");
                    return;
                }
                if (expectedReadyForQuery > 0) {
                    expectedReadyForQuery--;
                }
                releasable = expectedReadyForQuery == 0 && !unsynced;
                if (releasable) {
                    // PgBouncer's accounting: nothing outstanding ends a query, and an idle status a transaction.
                    now = System.nanoTime();
                    stats.queryDone(queryStart, now);
                    queryStart = 0;
                    if (txStatus == 'I') {
                        stats.xactDone(xactStart, now);
                        xactStart = 0;
                    } else {
                        serverReadyTime = now;
                    }
                }
            } else if (type == 'S') {
                trackParameter(from, batch.slice(i, length));
            } else if (type == 'E' && releasable) {
                // An error after the ReadyForQuery that ended the transaction answers nothing: the backend is going
                // away (a shutdown's 57P01). As PgBouncer (the server is no longer ready), the client keeps this
                // server and hears of its end, instead of reading the error at its next query on another server.
                releasable = false;
            }
            if (tracking && !statements.serverMessage(batch, i, length, type, out)) {
                out.finish(i);
                log.warn("{} server responses do not match the prepared statements sent", who());
                ServerConnection s = server;
                server = null;
                unlinkStatements();
                s.unassign();
                s.close("prepared statement tracking lost sync");
                fatal("08P01", "server conn crashed?");
                return;
            }
            i += length;
        }
        out.finish(end);
        if (releasable) {
            maybeRelease(now);
        }
    }

    /** The reply to the pooler's own SET statements, which the client never sees. */
    private void setReply(ServerConnection from, ByteBuf batch) {
        int end = batch.writerIndex();
        for (int i = batch.readerIndex(); i < end; i += FrameDecoder.frameLength(batch, i)) {
            byte type = batch.getByte(i);
            if (type == 'Z') {
                txStatus = batch.getByte(i + 5);
                settingVars = false;
                drainAfterSet(from, batch, i + 6, end);
                return;
            } else if (type == 'S') {
                trackParameter(from, batch.slice(i, FrameDecoder.frameLength(batch, i)));
            } else if (type == 'E') {
                batch.release();
                from.close("invalid server parameter");
                fatal("08P01", "invalid server parameter");
                return;
            }
        }
        batch.release();
    }

    private void drainAfterSet(ServerConnection from, ByteBuf batch, int start, int end) {
        if (start < end) {
            // Nothing should follow our SET's ReadyForQuery, since the client's messages are not sent yet.
            log.warn("{} unexpected server data after parameter sync", who());
        }
        batch.release();
        drainPending();
    }

    private void trackParameter(ServerConnection from, ByteBuf frame) {
        int idx = from.trackParameter(frame);
        if (idx >= 0) {
            vars[idx] = from.tracked[idx];
        }
    }

    /** Gives the server back when nothing is outstanding on it; {@code now} is the time of its last answer. */
    private void maybeRelease(long now) {
        if (mode == PoolMode.SESSION || txStatus != 'I' || expectedReadyForQuery != 0 || unsynced || settingVars
                || tracking && !statements.idle()) {
            return;
        }
        ServerConnection s = server;
        server = null;
        state = State.IDLE;
        unlinkStatements();
        s.unassign();
        // The server goes back first: a client that answers this ReadyForQuery at once, from another connection,
        // must find it free. Then what was written for this client goes out, which the server's read-complete will
        // no longer do.
        giveBack(s, now);
        flushClient();
    }

    /** A clean server goes back to the pool, through the reset query when one applies to this pool mode. */
    private void giveBack(ServerConnection s, long now) {
        String reset = pool.settings.resetQuery();
        if (reset != null && !reset.isEmpty()) {
            s.reset(reset);
        } else {
            pool.release(s, now);
        }
    }

    void serverClosed(ServerConnection s) {
        if (!loop.inEventLoop()) {
            loop.execute(() -> serverClosed(s));
            return;
        }
        if (server == s) {
            server = null;
            unlinkStatements();
            fatal("08P01", "server conn crashed?");
        }
    }

    /** The client is leaving while linked: a clean server goes back (after the reset query), a dirty one is closed. */
    private void detachServer(ServerConnection s) {
        s.unassign();
        boolean clean = txStatus == 'I' && expectedReadyForQuery == 0 && !unsynced && !settingVars
                && (!tracking || statements.idle());
        if (!clean && log.isDebugEnabled()) {
            // What was outstanding, for a hang's post-mortem: which side the link was waiting on when it ended.
            log.debug("{} leaves a server that is not ready: status {}, {} ReadyForQuery due, unsynced {}, "
                    + "setting vars {}, statement answers due {}, {} batches held back, server writable {}", who(),
                    (char) txStatus, expectedReadyForQuery, unsynced, settingVars, tracking && !statements.idle(),
                    pending.size(), s.channel().isWritable());
        }
        unlinkStatements();
        if (!clean) {
            // The pool learns of it when the channel closes; a server that is closing is never handed out.
            s.close("client disconnect while server was not ready");
            return;
        }
        giveBack(s, System.nanoTime());
    }

    // ---- client-side timeouts ------------------------------------------------------------------------------------

    /**
     * The janitor's look at this client (on its loop, three times a second), with PgBouncer's rules: an unlinked
     * client idle past client_idle_timeout is closed; a waiting one past query_timeout too; a linked server that is
     * not ready (a query running or a transaction open) is closed with its client when the client's last request is
     * older than query_timeout, the transaction has sat idle past idle_transaction_timeout, or it has been open
     * past transaction_timeout.
     */
    void checkTimeouts(long now, ClientTimeouts t) {
        switch (state) {
            case IDLE -> {
                long limit = t.clientIdle(user);
                if (limit > 0 && now - requestTime > limit) {
                    fatal("08P01", "client_idle_timeout");
                }
            }
            case WAITING, WAIT_WELCOME -> {
                long limit = t.query(pool.settings.serverUser());
                long wait = pool.settings.queryWaitTimeoutMicros() * 1000;
                if (limit > 0 && now - requestTime > limit) {
                    fatal("08P01", "query_timeout");
                } else if (wait > 0 && now - requestTime > wait) {
                    // query_wait_timeout, checked here rather than by a timer per wait: most waits are short.
                    pool.waitTimedOut(this);
                } else if (state == State.WAITING && !waitNotified && t.waitNotify() > 0
                        && now - requestTime > t.waitNotify()) {
                    // query_wait_notify (PgBouncer 1.25): tell the client why its query has not started yet.
                    waitNotified = true;
                    channel.writeAndFlush(Messages.noticeResponse(channel.alloc(), "NOTICE", "00000",
                            "No server connection available in postgres backend, client being queued"));
                }
            }
            case LINKED -> {
                boolean idleInTransaction = expectedReadyForQuery == 0 && !unsynced && !settingVars;
                if (idleInTransaction && txStatus == 'I') {
                    // server_fast_close: a session whose database changed loses its server between transactions.
                    if (t.fastClose() && mode == PoolMode.SESSION && pool.isRetired()) {
                        timedOut("database configuration changed", false);
                    }
                    return;
                }
                String serverUser = pool.settings.serverUser();
                long query = t.query(serverUser);
                long idleTx = t.idleTransaction(serverUser);
                long xact = t.transaction(serverUser);
                if (query > 0 && now - requestTime > query) {
                    timedOut("query timeout", !idleInTransaction);
                } else if (idleTx > 0 && idleInTransaction && now - serverReadyTime > idleTx) {
                    timedOut("idle transaction timeout", false);
                } else if (xact > 0 && xactStart != 0 && now - xactStart > xact) {
                    timedOut("transaction timeout", !idleInTransaction);
                }
            }
            default -> {
            }
        }
    }

    /** Closes the linked server and the client with the reason; a running query is cancelled first. */
    private void timedOut(String reason, boolean running) {
        ServerConnection s = server;
        server = null;
        unlinkStatements();
        s.unassign();
        if (running) {
            // PgBouncer only closes the socket; PostgreSQL would run the query on until it next writes.
            pooler.cancel(s);
        }
        s.close(reason);
        fatal("08P01", reason);
    }

    // ---- errors and teardown --------------------------------------------------------------------------------------

    /** Ends the client with a FATAL error; safe to call from any thread. */
    void fail(ErrorFields error) {
        if (!loop.inEventLoop()) {
            loop.execute(() -> fail(error));
            return;
        }
        fatal(error.sqlState(), error.message());
    }

    private void fatal(String sqlstate, String message) {
        if (state == State.CLOSED) {
            return;
        }
        if (pooler.config().getBool("log_pooler_errors")) {
            log.warn("{} pooler error: {}", who(), message);
        }
        State was = state;
        if (was.ordinal() >= State.IDLE.ordinal() && pooler.config().getBool("log_disconnections")) {
            log.info("{} closing because: {} ({})", who(), message, age());
        }
        state = State.CLOSED;
        leavePool(was);
        channel.config().setAutoRead(false);
        channel.writeAndFlush(Messages.errorResponse(channel.alloc(), "FATAL", sqlstate, message))
                .addListener(ChannelFutureListener.CLOSE);
    }

    /**
     * Leaves its pool's count of clients and the wait queue, or gives back the linked server, whichever the client
     * had when it closed; only once ({@code was} is CLOSED the second time).
     */
    private void leavePool(State was) {
        countRouting(null);
        if (pool != null && was != State.CLOSED) {
            pool.clientLeft(this, was == State.WAITING || was == State.WAIT_WELCOME);
        }
        ServerConnection s = server;
        if (s != null) {
            server = null;
            detachServer(s);
        }
    }

    private void releasePending() {
        ByteBuf b;
        while ((b = pending.pollFirst()) != null) {
            b.release();
        }
    }

    private void cancelLoginTimer() {
        if (loginTimer != null) {
            loginTimer.cancel(false);
            loginTimer = null;
        }
    }

    private void cancelTimers() {
        cancelLoginTimer();
        if (waitTimer != null) {
            waitTimer.cancel(false);
            waitTimer = null;
        }
    }
}
