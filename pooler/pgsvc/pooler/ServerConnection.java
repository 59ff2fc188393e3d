package pgsvc.pooler;

import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.AbstractMap;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.auth.AuthException;
import pgsvc.pooler.tls.ServerTlsNegotiator;
import pgsvc.pooler.tls.Tls;
import pgsvc.pooler.tls.TlsInfo;
import pgsvc.protocol.ErrorFields;
import pgsvc.protocol.FrameDecoder;
import pgsvc.protocol.Framer;
import pgsvc.protocol.Messages;
import pgsvc.protocol.ParameterStatus;
import pgsvc.protocol.ProtocolException;

/**
 * One connection from the pooler to PostgreSQL. It logs in by itself on its own event loop; once logged in, what it
 * reads belongs to the client it is assigned to, which tracks the transaction state on the client's loop.
 * Pool bookkeeping ({@link #inUse}) is touched only inside the pool's executor.
 */
final class ServerConnection extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(ServerConnection.class);

    private enum Phase { CONNECTING, LOGIN, CONNECT_QUERY, READY, RESET, CHECK, CLOSED }

    private final Pool pool;
    private final long id;
    private final int loopIndex;
    private final long createdNanos = System.nanoTime();
    private final long lifetimeNanos;
    private final List<Map.Entry<String, String>> params = new ArrayList<>();
    final String[] tracked;
    /** Prepared statements on this connection (transaction and statement mode), kept by the linked client. */
    final ServerStatements statements = new ServerStatements();

    /** Set and read only inside the pool's executor. */
    boolean inUse;
    /** When it last went idle in the pool (nanoTime), for server_idle_timeout, eviction and server_check_delay. */
    long idleSince;

    private volatile Phase phase = Phase.CONNECTING;
    private volatile ClientConnection client;
    private Channel channel;
    /** The channel's {@link WriteThrough} to call directly, once logged in; null when writes must take the pipeline. */
    WriteThrough out;
    private final ServerAuth auth;
    /** Frames what the server sends: this handler reads the socket's raw bytes (no FrameDecoder in between). */
    private final Framer framer;
    private int backendPid;
    private int backendKey;
    private String closeReason;
    private volatile boolean closing;
    /** RECONNECT or a RELOAD that moved the database: close instead of going back to the pool (close_needed). */
    volatile boolean closeNeeded;
    /** System.nanoTime() of the last hand-off to a client, SHOW SERVERS's request_time. */
    private volatile long assignedNanos = createdNanos;

    private ServerConnection(Pool pool, int loopIndex) {
        this.pool = pool;
        this.id = pool.pooler.nextId();
        this.loopIndex = loopIndex;
        this.tracked = pool.pooler.trackedParams().newValues();
        this.auth = new ServerAuth(pool.settings.serverUser(), pool.settings.serverPassword(), pool.pooler::scramKeys);
        this.framer = new Framer(pool.pooler.maxPacketSize());
        long lifetime = pool.settings.lifetimeMicros();
        // Jitter lifetimes so that a pool opened all at once is not closed all at once.
        this.lifetimeNanos = lifetime <= 0 ? Long.MAX_VALUE
                : TimeUnit.MICROSECONDS.toNanos(lifetime) - ThreadLocalRandom.current().nextLong(
                        Math.max(1, TimeUnit.MICROSECONDS.toNanos(lifetime) / 10));
    }

    static void connect(Pool pool, EventLoop loop) {
        Pooler pooler = pool.pooler;
        ServerConnection server = new ServerConnection(pool, pooler.loopIndex(loop));
        PoolSettings s = pool.settings;
        int timeoutMillis = (int) Math.min(Integer.MAX_VALUE, s.connectTimeoutMicros() / 1000);
        String host = s.nextHost();
        Tls tls = pooler.tls();
        ChannelInitializer<Channel> init = new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                // server_tls_sslmode: SSLRequest and handshake first; this connection sees channelActive after.
                ServerTlsNegotiator.addTo(ch.pipeline(), tls, host, s.port());
                ch.pipeline().addLast("server", server);
                WriteThrough.addTo(ch);
            }
        };
        ChannelFuture connected = pooler.connect(loop, host, s.port(), timeoutMillis, init);
        // Listed for the console (SHOW SERVERS, RECONNECT, WAIT_CLOSE) until its socket is closed.
        pooler.serverOpened(server);
        connected.channel().closeFuture().addListener(f -> pooler.serverGone(server));
        connected.addListener((ChannelFutureListener) f -> {
            if (!f.isSuccess()) {
                server.phase = Phase.CLOSED;
                log.warn("S-{}: {} connect to {}:{} failed: {}", server.id, pool.key, s.host(), s.port(),
                        f.cause().getMessage());
                // Cached as PgBouncer words it (the log line above has the detail): clients' retry logic matches it.
                pool.serverConnectFailed(server, f.cause() instanceof UnknownHostException
                        ? "server DNS lookup failed" : "connect failed");
            }
        });
        // The login must finish within server_connect_timeout too, not just the TCP (and TLS) handshake.
        loop.schedule(() -> {
            Phase p = server.phase;
            if (p == Phase.LOGIN || p == Phase.CONNECTING && connected.channel().isActive()) {
                server.close("connect timeout");
            }
        }, Math.max(1, s.connectTimeoutMicros()), TimeUnit.MICROSECONDS);
    }

    long id() {
        return id;
    }

    int loopIndex() {
        return loopIndex;
    }

    Channel channel() {
        return channel;
    }

    int backendPid() {
        return backendPid;
    }

    int backendKey() {
        return backendKey;
    }

    Pool pool() {
        return pool;
    }

    List<Map.Entry<String, String>> parameters() {
        return Collections.unmodifiableList(new ArrayList<>(params));
    }

    boolean isClosed() {
        return closing || phase == Phase.CLOSED;
    }

    /** Whether server_lifetime is over at {@code now} (System.nanoTime()). */
    boolean expired(long now) {
        return now - createdNanos > lifetimeNanos;
    }

    void assign(ClientConnection client, long now) {
        this.client = client;
        assignedNanos = now;
    }

    ClientConnection linkedClient() {
        return client;
    }

    long createdNanos() {
        return createdNanos;
    }

    long assignedNanos() {
        return assignedNanos;
    }

    /** PgBouncer's list for this server: new (logging in), active (linked), idle, tested (reset or check query). */
    String listName() {
        if (closing) {
            return null;
        }
        return switch (phase) {
            case CONNECTING, LOGIN, CONNECT_QUERY -> "new";
            case READY -> client != null ? "active" : "idle";
            case RESET, CHECK -> "tested";
            case CLOSED -> null;
        };
    }

    /** Logged in and not closing: what RECONNECT marks close_needed (a server still logging in is new already). */
    boolean isLoggedIn() {
        Phase p = phase;
        return !closing && (p == Phase.READY || p == Phase.RESET || p == Phase.CHECK);
    }

    void unassign() {
        this.client = null;
    }

    /** Runs the reset query (session mode) on the server's loop; the server goes back to the pool at its ReadyForQuery. */
    void reset(String query) {
        phase = Phase.RESET;
        client = null;
        channel.writeAndFlush(Messages.query(channel.alloc(), query));
    }

    /** Runs server_check_query on a server that sat idle too long; it goes back to the pool at its ReadyForQuery. */
    void check(String query) {
        phase = Phase.CHECK;
        client = null;
        channel.writeAndFlush(Messages.query(channel.alloc(), query));
    }

    void close(String reason) {
        closing = true;
        if (channel == null) {
            phase = Phase.CLOSED;
            return;
        }
        if (closeReason == null) {
            closeReason = reason;
        }
        if (channel.isActive() && phase != Phase.CONNECTING) {
            channel.writeAndFlush(Messages.terminate(channel.alloc())).addListener(ChannelFutureListener.CLOSE);
        } else {
            channel.close();
        }
    }

    /** Known from the start, so that close() also ends a connection still in its TLS handshake. */
    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        channel = ctx.channel();
        phase = Phase.LOGIN;
        String tlsInfo = TlsInfo.describe(ctx.channel());
        if (!tlsInfo.isEmpty()) {
            if (pool.pooler.config().getBool("log_connections")) {
                log.info("S-{}: {} SSL established: {}", id, pool.key, tlsInfo);
            } else {
                log.debug("S-{}: {} SSL established: {}", id, pool.key, tlsInfo);
            }
        }
        PoolSettings s = pool.settings;
        Map<String, String> startup = new LinkedHashMap<>();
        startup.put("user", s.serverUser());
        startup.put("database", s.dbname());
        startup.putAll(s.startupParams());
        ctx.writeAndFlush(Messages.startupMessage(ctx.alloc(), startup));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf batch = framer.frame(ctx.alloc(), (ByteBuf) msg);
        if (batch != null) {
            serverData(ctx, batch);
        }
        ProtocolException failure = framer.failure();
        if (failure != null) {
            exceptionCaught(ctx, failure);
        }
    }

    /** One batch of whole frames from the server. */
    private void serverData(ChannelHandlerContext ctx, ByteBuf batch) {
        Phase p = phase;
        if (p == Phase.READY) {
            ClientConnection c = client;
            if (c != null) {
                c.serverData(this, batch);
                return;
            }
            batch.release();
            close("idle server got dirty");
            return;
        }
        try {
            if (p == Phase.LOGIN) {
                login(ctx, batch);
            } else if (p == Phase.RESET) {
                resetResponse(batch);
            } else if (p == Phase.CHECK) {
                checkResponse(batch);
            } else if (p == Phase.CONNECT_QUERY) {
                connectQueryResponse(batch);
            }
        } finally {
            batch.release();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        framer.readComplete(ctx);
        ClientConnection c = client;
        if (c != null && phase == Phase.READY) {
            c.serverReadComplete(this);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        ClientConnection c = client;
        if (c != null) {
            c.serverWritabilityChanged(this);
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        framer.release();
        Phase was = phase;
        phase = Phase.CLOSED;
        if (was == Phase.LOGIN || was == Phase.CONNECTING || was == Phase.CONNECT_QUERY) {
            pool.serverConnectFailed(this, closeReason != null ? closeReason : "server closed the connection during login");
        } else if (was != Phase.CLOSED) {
            pool.serverClosed(this);
        }
        ClientConnection c = client;
        if (c != null) {
            c.serverClosed(this);
        }
        if (was != Phase.CLOSED) {
            log.debug("S-{}: {} closed: {}", id, pool.key, closeReason == null ? "server closed connection" : closeReason);
        }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        framer.release();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof ServerTlsNegotiator.Failure) {
            log.warn("S-{}: {} {}", id, pool.key, cause.getMessage());
            close(cause.getMessage());
            return;
        }
        log.warn("S-{}: {} error: {}", id, pool.key, cause.toString());
        close("server error: " + cause.getMessage());
    }

    private void login(ChannelHandlerContext ctx, ByteBuf batch) {
        for (int i = batch.readerIndex(); i < batch.writerIndex(); i += FrameDecoder.frameLength(batch, i)) {
            byte type = batch.getByte(i);
            ByteBuf frame = batch.slice(i, FrameDecoder.frameLength(batch, i));
            switch (type) {
                case 'R' -> {
                    if (!authenticate(ctx, frame)) {
                        return;
                    }
                }
                case 'S' -> {
                    ParameterStatus ps = Messages.readParameterStatus(frame);
                    params.add(new AbstractMap.SimpleImmutableEntry<>(ps.name(), ps.value()));
                    trackParameter(frame);
                }
                case 'K' -> {
                    backendPid = frame.getInt(5);
                    backendKey = frame.getInt(9);
                }
                case 'E' -> {
                    ErrorFields error = Messages.readErrorFields(frame);
                    phase = Phase.CLOSED;
                    pool.serverLoginFailed(this, error);
                    ctx.close();
                    return;
                }
                case 'Z' -> {
                    log.debug("S-{}: {} new connection to server", id, pool.key);
                    String connectQuery = pool.settings.connectQuery();
                    if (connectQuery != null && !connectQuery.isEmpty()) {
                        phase = Phase.CONNECT_QUERY;
                        ctx.writeAndFlush(Messages.query(ctx.alloc(), connectQuery));
                        return;
                    }
                    ready();
                    return;
                }
                default -> {
                    // NoticeResponse and NegotiateProtocolVersion during login need no answer.
                }
            }
        }
    }

    private boolean authenticate(ChannelHandlerContext ctx, ByteBuf frame) {
        try {
            ByteBuf answer = auth.answer(ctx.alloc(), frame);
            if (answer != null) {
                ctx.writeAndFlush(answer);
            }
            return true;
        } catch (AuthException e) {
            phase = Phase.CLOSED;
            pool.serverLoginFailed(this, ErrorFields.fatal("08P01", e.getMessage()));
            ctx.close();
            return false;
        }
    }

    private void resetResponse(ByteBuf batch) {
        for (int i = batch.readerIndex(); i < batch.writerIndex(); i += FrameDecoder.frameLength(batch, i)) {
            byte type = batch.getByte(i);
            if (type == 'E') {
                close("reset query failed");
                return;
            }
            if (type == 'Z') {
                phase = Phase.READY;
                pool.release(this);
                return;
            }
            if (type == 'S') {
                // DISCARD ALL reports the reset values; the next client's SETs are computed from them.
                trackParameter(batch.slice(i, FrameDecoder.frameLength(batch, i)));
            } else if (type == 'C'
                    && StatementSql.dropsAllStatements(batch, i, FrameDecoder.frameLength(batch, i))) {
                statements.clear();
            }
        }
    }

    /**
     * The answer to connect_query: as in PgBouncer an error is logged and the server used all the same; parameters
     * it changes (a SET) become the server's, so clients are welcomed with them.
     */
    private void connectQueryResponse(ByteBuf batch) {
        for (int i = batch.readerIndex(); i < batch.writerIndex(); i += FrameDecoder.frameLength(batch, i)) {
            byte type = batch.getByte(i);
            ByteBuf frame = batch.slice(i, FrameDecoder.frameLength(batch, i));
            if (type == 'E') {
                log.warn("S-{}: {} connect_query failed: {}", id, pool.key, Messages.readErrorFields(frame).message());
            } else if (type == 'S') {
                ParameterStatus ps = Messages.readParameterStatus(frame);
                params.removeIf(e -> e.getKey().equals(ps.name()));
                params.add(new AbstractMap.SimpleImmutableEntry<>(ps.name(), ps.value()));
                trackParameter(frame);
            } else if (type == 'Z') {
                ready();
                return;
            }
        }
    }

    /** Logged in, and past connect_query: writes may go straight to WriteThrough, and the pool takes the server. */
    private void ready() {
        phase = Phase.READY;
        out = WriteThrough.direct(channel);
        pool.serverLoggedIn(this);
    }

    private void checkResponse(ByteBuf batch) {
        for (int i = batch.readerIndex(); i < batch.writerIndex(); i += FrameDecoder.frameLength(batch, i)) {
            byte type = batch.getByte(i);
            if (type == 'E') {
                close("test query failed");
                return;
            }
            if (type == 'Z') {
                phase = Phase.READY;
                pool.release(this);
                return;
            }
        }
    }

    /** Records a ParameterStatus this server sent; returns the tracked index, or -1 if not tracked. */
    int trackParameter(ByteBuf frame) {
        ParameterStatus ps = Messages.readParameterStatus(frame);
        TrackedParams params = pool.pooler.trackedParams();
        int idx = params.indexOf(ps.name());
        if (idx >= 0) {
            tracked[idx] = params.canonical(ps.value());
        }
        return idx;
    }

    @Override
    public String toString() {
        return "S-" + id + " " + pool.key + " pid=" + backendPid;
    }
}
