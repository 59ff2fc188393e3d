package pgsvc.pooler;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.auth.AuthException;
import pgsvc.pooler.config.AuthFile;
import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.DatabaseEntry;
import pgsvc.pooler.tls.ServerTlsNegotiator;
import pgsvc.protocol.ErrorFields;
import pgsvc.protocol.FrameDecoder;
import pgsvc.protocol.Messages;
import pgsvc.protocol.Protocol;

/**
 * auth_user, auth_query and auth_dbname: the secret of a user that auth_file does not list is looked up by running
 * auth_query on PostgreSQL, logged in as auth_user to the auth database. The user name travels as the query's only
 * bind parameter (Parse, Bind, Describe, Execute, Sync), never inside the SQL text.
 * <p>Lookups run on their own small connections, one set per (server, database, auth_user, its password): at most
 * the auth database's pool size open at once, each running one lookup at a time, idle ones kept for the next login
 * until server_idle_timeout. PgBouncer borrows a server of the auth_user's pool instead; separate connections mean a
 * login never queues behind client transactions, a client is never handed a server logged in as auth_user, and no
 * client state (tracked parameters, prepared statements) ever reaches a lookup connection (the CVE-2025-12819 class
 * of problem). Each set lives on one event loop: requests hop to it, results are handed back to the caller there.
 * <p>Failures never leave a login hanging: a connection that cannot be opened is retried (the next host at once,
 * the same host after server_login_retry) while lookups wait; an auth_user that PostgreSQL refuses, a failing
 * query or a malformed answer ends the waiting logins with PgBouncer's {@code bouncer config error}, the cause going
 * to the log; a lookup without an answer after query_wait_timeout (else client_login_timeout) ends with that
 * timeout's name, and a query still running is cancelled.
 */
final class AuthQuery {
    private static final Logger log = LoggerFactory.getLogger(AuthQuery.class);

    /** What a login that cannot be served for a configuration or lookup problem is told, as PgBouncer does. */
    static final ErrorFields CONFIG_ERROR = ErrorFields.fatal("08P01", "bouncer config error");

    /** Where lookups run: the auth database's server and the auth_user's login. */
    record Target(List<String> hosts, int port, String dbname, String user, String password) {
        @Override
        public String toString() {
            return dbname + "/" + user;
        }
    }

    /**
     * One login's lookup: where and what to run, or (refusal non-null) why the configuration cannot serve it.
     *
     * @param maxConnections the auth database's pool size: how many lookups of this target may run at once
     */
    record Plan(Target target, String query, int maxConnections, String refusal) {
        static Plan refused(String why) {
            return new Plan(null, null, 0, why);
        }
    }

    /**
     * The outcome of a lookup: a secret, or none (no row, a NULL or empty password: the login then fails as a wrong
     * password does), or an error to end the login with.
     */
    record Result(String secret, ErrorFields error) {
        static final Result NONE = new Result(null, null);
    }

    /** Login errors that say "not now" rather than "not you": cannot_connect_now, too_many_connections. */
    private static final Set<String> TRANSIENT = Set.of("57P03", "53300");

    private final Pooler pooler;
    private final Map<Target, Lookups> targets = new ConcurrentHashMap<>();

    AuthQuery(Pooler pooler) {
        this.pooler = pooler;
    }

    /**
     * The lookup for a login to {@code database} (entry {@code db}; null for the console) by a user that auth_file
     * does not list, or null when no auth_user applies. auth_user and auth_query come from the entry, else from
     * [pgbouncer]; the auth database is the entry's auth_dbname, else the global one, else the entry itself.
     */
    static Plan plan(Config c, AuthFile authFile, DatabaseEntry db) {
        String authUser = db != null && db.authUser() != null ? db.authUser() : nonEmpty(c.get("auth_user"));
        if (authUser == null) {
            return null;
        }
        String query = db != null && db.authQuery() != null ? db.authQuery() : c.get("auth_query");
        String authDbname = db != null && db.authDbname() != null ? db.authDbname() : nonEmpty(c.get("auth_dbname"));
        DatabaseEntry authDb;
        if (authDbname == null) {
            if (db == null) {
                return Plan.refused("cannot use the reserved \"" + DatabaseEntry.CONSOLE_DATABASE
                        + "\" database as an auth_dbname");
            }
            authDb = db;
        } else {
            authDb = c.database(authDbname);
            if (authDb == null) {
                return Plan.refused(DatabaseEntry.CONSOLE_DATABASE.equals(authDbname)
                        ? "cannot use the reserved \"" + authDbname + "\" database as an auth_dbname"
                        : "authentication database \"" + authDbname + "\" is not configured");
            }
        }
        String password = authFile == null ? null : authFile.secret(authUser);
        int size = authDb.poolSize() != null ? authDb.poolSize() : c.defaultPoolSize();
        Target target = new Target(authDb.hosts(), authDb.port(), authDb.serverDbname(), authUser, password);
        return new Plan(target, query, Math.max(1, size), null);
    }

    private static String nonEmpty(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    /**
     * Looks {@code user} up as the plan says; {@code done} runs once, on the event loop of the target's lookups
     * (the first caller's loop), with the result.
     */
    void lookup(Plan plan, String user, EventLoop callerLoop, Consumer<Result> done) {
        Lookups set = targets.computeIfAbsent(plan.target(), t -> new Lookups(t, callerLoop));
        Request request = new Request(plan.query(), user, plan.maxConnections(), done);
        set.loop.execute(() -> set.submit(request));
    }

    /**
     * RELOAD and shutdown: the lookup connections open now close, idle ones at once and busy ones when their lookup
     * is done (auth_user's password or the auth database may have changed); new logins open fresh ones.
     */
    void retireAll(String reason) {
        for (Lookups set : targets.values()) {
            targets.remove(set.target, set);
            set.loop.execute(() -> set.retire(reason));
        }
    }

    /** One login waiting for its secret. Touched only on its target's loop. */
    private static final class Request {
        final String query;
        final String user;
        final int maxConnections;
        final Consumer<Result> done;
        ScheduledFuture<?> deadline;
        Conn runningOn;
        /** Whether it was sent once on a connection that then died: it gets one more try, not more. */
        boolean retried;
        boolean finished;

        Request(String query, String user, int maxConnections, Consumer<Result> done) {
            this.query = query;
            this.user = user;
            this.maxConnections = maxConnections;
            this.done = done;
        }

        void finish(Result result) {
            if (finished) {
                return;
            }
            finished = true;
            runningOn = null;
            if (deadline != null) {
                deadline.cancel(false);
            }
            done.accept(result);
        }
    }

    /** The lookup connections of one target and the logins waiting for one. Touched only on {@link #loop}. */
    private final class Lookups {
        final Target target;
        final EventLoop loop;
        private final ArrayDeque<Request> queue = new ArrayDeque<>();
        private final ArrayDeque<Conn> idle = new ArrayDeque<>();
        private int open;
        private int connecting;
        private int maxConnections = 1;
        private int nextHost;
        private int failedConnects;
        private long retryAt;
        private boolean retryScheduled;
        /** When PostgreSQL last refused auth_user (nanoTime), 0 if it has not: logins fail fast until the retry. */
        private long refusedAt;
        /** Why this set's connections close once idle; null while the set serves new logins. */
        private String retired;

        Lookups(Target target, EventLoop loop) {
            this.target = target;
            this.loop = loop;
        }

        void submit(Request r) {
            Config c = pooler.config();
            maxConnections = r.maxConnections;
            if (refusedAt != 0 && System.nanoTime() - refusedAt < c.getMicros("server_login_retry") * 1000) {
                r.finish(new Result(null, CONFIG_ERROR));
                return;
            }
            long wait = c.getMicros("query_wait_timeout");
            String timeout = "query_wait_timeout";
            if (wait <= 0) {
                wait = c.getMicros("client_login_timeout");
                timeout = "client_login_timeout";
            }
            if (wait > 0) {
                ErrorFields expired = ErrorFields.fatal("08P01", timeout);
                r.deadline = loop.schedule(() -> expire(r, expired), wait, TimeUnit.MICROSECONDS);
            }
            queue.addLast(r);
            dispatch();
        }

        private void expire(Request r, ErrorFields error) {
            if (r.finished) {
                return;
            }
            Conn running = r.runningOn;
            queue.remove(r);
            log.warn("auth_query for user {} on {} got no answer in time", r.user, target);
            r.finish(new Result(null, error));
            if (running != null) {
                running.abandon();
            }
        }

        /** Hands waiting lookups to idle connections, and opens connections for the rest within the limit. */
        void dispatch() {
            while (!queue.isEmpty() && !idle.isEmpty()) {
                idle.pollFirst().run(queue.pollFirst());
            }
            while (queue.size() > connecting && open < maxConnections) {
                long wait = retryAt - System.nanoTime();
                if (wait > 0) {
                    if (!retryScheduled) {
                        retryScheduled = true;
                        loop.schedule(() -> {
                            retryScheduled = false;
                            dispatch();
                        }, wait, TimeUnit.NANOSECONDS);
                    }
                    return;
                }
                open++;
                connecting++;
                List<String> hosts = target.hosts;
                String host = hosts.isEmpty() ? null : hosts.get(Math.floorMod(nextHost, hosts.size()));
                new Conn(this, host).connect();
            }
        }

        void loggedIn(Conn conn) {
            connecting--;
            failedConnects = 0;
            refusedAt = 0;
            ready(conn);
        }

        /** A connection with nothing running: the next lookup, else idle until server_idle_timeout. */
        void ready(Conn conn) {
            Request next = queue.pollFirst();
            if (next != null) {
                conn.run(next);
            } else if (retired != null) {
                conn.close(retired);
            } else {
                idle.addLast(conn);
                conn.idleFrom(pooler.config().getMicros("server_idle_timeout"));
            }
        }

        /** PostgreSQL refused auth_user (or pgsvc could not answer its authentication request). */
        void refused(String why) {
            refusedAt = System.nanoTime();
            log.warn("auth_user {} cannot log in to {}: {}", target.user, target, why);
            Request r;
            while ((r = queue.pollFirst()) != null) {
                r.finish(new Result(null, CONFIG_ERROR));
            }
        }

        /**
         * A connection is gone. One that never logged in and was not refused had a network (or "not now") problem:
         * the next host is tried at once, and after a round of all hosts the next try waits server_login_retry.
         */
        void gone(Conn conn, boolean beforeLogin, boolean refusal, String why) {
            open--;
            idle.remove(conn);
            if (beforeLogin) {
                connecting--;
                if (!refusal) {
                    nextHost++;
                    failedConnects++;
                    int hosts = Math.max(1, target.hosts.size());
                    if (failedConnects % hosts == 0) {
                        retryAt = System.nanoTime() + pooler.config().getMicros("server_login_retry") * 1000;
                    }
                    log.warn("auth_query connection to {} failed: {}", target, why);
                }
            }
            dispatch();
        }

        void retire(String reason) {
            retired = reason;
            Conn conn;
            while ((conn = idle.pollFirst()) != null) {
                conn.close(reason);
            }
        }
    }

    private enum Phase { CONNECTING, LOGIN, IDLE, BUSY, CLOSED }

    /** One lookup connection: logs in as auth_user, then runs one lookup at a time. Lives on its set's loop. */
    private final class Conn extends ChannelInboundHandlerAdapter {
        private final Lookups set;
        private final String host;
        private final long id = pooler.nextId();
        private final ServerAuth auth;
        private Channel channel;
        private Phase phase = Phase.CONNECTING;
        private boolean gone;
        private boolean loggedIn;
        private boolean refusal;
        private String closeReason;
        private int backendPid;
        private int backendKey;
        private ScheduledFuture<?> idleTimer;
        private Request request;
        private String problem;
        private boolean found;
        private String secret;

        Conn(Lookups set, String host) {
            this.set = set;
            this.host = host;
            this.auth = new ServerAuth(set.target.user, set.target.password, pooler::scramKeys);
        }

        void connect() {
            long timeout = pooler.config().getMicros("server_connect_timeout");
            int millis = (int) Math.min(Integer.MAX_VALUE, Math.max(1, timeout / 1000));
            ChannelInitializer<Channel> init = new ChannelInitializer<>() {
                @Override
                protected void initChannel(Channel ch) {
                    // server_tls_sslmode applies to these connections as to pooled servers.
                    ServerTlsNegotiator.addTo(ch.pipeline(), pooler.tls(), host, set.target.port);
                    ch.pipeline().addLast(FrameDecoder.NAME, new FrameDecoder(pooler.maxPacketSize()));
                    ch.pipeline().addLast("authQuery", Conn.this);
                }
            };
            channel = pooler.connect(set.loop, host, set.target.port, millis, init)
                    .addListener((ChannelFutureListener) f -> {
                        if (!f.isSuccess()) {
                            goneOnce(f.cause().getMessage());
                        }
                    }).channel();
            // Logging in must finish within server_connect_timeout too, not just the TCP handshake.
            set.loop.schedule(() -> {
                if (phase == Phase.CONNECTING || phase == Phase.LOGIN) {
                    close("connect timeout");
                }
            }, Math.max(1, timeout), TimeUnit.MICROSECONDS);
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            phase = Phase.LOGIN;
            Map<String, String> startup = new LinkedHashMap<>();
            startup.put("user", set.target.user);
            startup.put("database", set.target.dbname);
            ctx.writeAndFlush(Messages.startupMessage(ctx.alloc(), startup));
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf batch = (ByteBuf) msg;
            try {
                int end = batch.writerIndex();
                for (int i = batch.readerIndex(); i < end && phase != Phase.CLOSED; ) {
                    int length = FrameDecoder.frameLength(batch, i);
                    ByteBuf frame = batch.slice(i, length);
                    if (phase == Phase.LOGIN) {
                        login(ctx, frame);
                    } else if (phase == Phase.BUSY) {
                        response(frame);
                    } else {
                        idleMessage(frame);
                    }
                    i += length;
                }
            } finally {
                batch.release();
            }
        }

        private void login(ChannelHandlerContext ctx, ByteBuf frame) {
            switch (frame.getByte(0)) {
                case Protocol.Backend.AUTHENTICATION -> {
                    try {
                        ByteBuf answer = auth.answer(ctx.alloc(), frame);
                        if (answer != null) {
                            ctx.writeAndFlush(answer);
                        }
                    } catch (AuthException e) {
                        refuse(e.getMessage());
                    }
                }
                case Protocol.Backend.ERROR_RESPONSE -> {
                    ErrorFields error = Messages.readErrorFields(frame);
                    if (TRANSIENT.contains(error.sqlState())) {
                        // Starting up, or out of connections: worth another try, like a connect that failed.
                        close(error.message());
                    } else {
                        refuse(error.message());
                    }
                }
                case Protocol.Backend.BACKEND_KEY_DATA -> {
                    backendPid = frame.getInt(5);
                    backendKey = frame.getInt(9);
                }
                case Protocol.Backend.READY_FOR_QUERY -> {
                    phase = Phase.IDLE;
                    loggedIn = true;
                    log.debug("S-{}: auth_query connection to {} logged in", id, set.target);
                    set.loggedIn(this);
                }
                default -> {
                    // ParameterStatus, NoticeResponse and NegotiateProtocolVersion need no answer.
                }
            }
        }

        /** What an idle server may send by itself; anything else (a FATAL before it closes) ends the connection. */
        private void idleMessage(ByteBuf frame) {
            byte type = frame.getByte(0);
            if (type != Protocol.Backend.PARAMETER_STATUS && type != Protocol.Backend.NOTICE_RESPONSE
                    && type != Protocol.Backend.NOTIFICATION_RESPONSE) {
                close(type == Protocol.Backend.ERROR_RESPONSE ? Messages.readErrorFields(frame).message()
                        : "unexpected message from server: " + (char) type);
            }
        }

        private void refuse(String why) {
            refusal = true;
            set.refused(why);
            close("auth_user login failed");
        }

        /** Runs one lookup: the user name is the bound value of $1, in text format. */
        void run(Request r) {
            if (idleTimer != null) {
                idleTimer.cancel(false);
                idleTimer = null;
            }
            request = r;
            r.runningOn = this;
            problem = null;
            found = false;
            secret = null;
            phase = Phase.BUSY;
            channel.writeAndFlush(extendedQuery(channel.alloc().ioBuffer(), r.query, r.user));
        }

        private void response(ByteBuf frame) {
            switch (frame.getByte(0)) {
                case Protocol.Backend.PARSE_COMPLETE, Protocol.Backend.BIND_COMPLETE,
                        Protocol.Backend.COMMAND_COMPLETE, Protocol.Backend.NOTICE_RESPONSE,
                        Protocol.Backend.PARAMETER_STATUS -> {
                }
                case Protocol.Backend.ROW_DESCRIPTION -> {
                    int columns = frame.getUnsignedShort(5);
                    if (columns != 2) {
                        problem("expected 2 columns from auth_query, not " + columns);
                    }
                }
                case Protocol.Backend.NO_DATA -> problem("expected 2 columns from auth_query, not 0");
                case Protocol.Backend.DATA_ROW -> row(Messages.readDataRow(frame));
                case Protocol.Backend.ERROR_RESPONSE ->
                        problem("error response from auth_query: " + Messages.readErrorFields(frame).message());
                case Protocol.Backend.READY_FOR_QUERY -> complete(frame.getByte(5));
                default -> {
                    problem("unexpected response from auth_query: " + (char) frame.getByte(0));
                    finishRequest();
                    close("unexpected response from auth_query");
                }
            }
        }

        private void problem(String what) {
            if (problem == null) {
                problem = what;
            }
        }

        /** PgBouncer takes the secret from the row; pgsvc only from a row for the very user asked about. */
        private void row(List<String> values) {
            if (problem != null) {
                return;
            }
            if (values.size() != 2) {
                problem("expected 2 columns from auth_query, not " + values.size());
            } else if (values.get(0) == null) {
                problem("auth_query response contained null user name");
            } else if (!found && request != null && values.get(0).equals(request.user)) {
                found = true;
                secret = values.get(1);
            }
        }

        private void complete(byte txStatus) {
            finishRequest();
            if (txStatus != Protocol.TransactionStatus.IDLE) {
                close("auth_query left a transaction open");
                return;
            }
            phase = Phase.IDLE;
            set.ready(this);
        }

        private void finishRequest() {
            Request r = request;
            request = null;
            if (r == null || r.finished) {
                return;
            }
            if (problem != null) {
                log.warn("auth_query for user {} on {} failed: {}", r.user, set.target, problem);
                r.finish(new Result(null, CONFIG_ERROR));
            } else if (!found) {
                log.info("no such user: {} (auth_query on {} found no row)", r.user, set.target);
                r.finish(Result.NONE);
            } else if (secret == null || secret.isEmpty()) {
                log.info("auth_query on {} returned no password for user {}", set.target, r.user);
                r.finish(Result.NONE);
            } else {
                r.finish(new Result(secret, null));
            }
        }

        void idleFrom(long timeoutMicros) {
            if (timeoutMicros > 0) {
                idleTimer = set.loop.schedule(() -> {
                    if (phase == Phase.IDLE) {
                        close("server idle timeout");
                    }
                }, timeoutMicros, TimeUnit.MICROSECONDS);
            }
        }

        /** The lookup's login gave up waiting: cancel what the server is running, and let this connection go. */
        void abandon() {
            request = null;
            if (backendPid != 0) {
                int pid = backendPid;
                int key = backendKey;
                long wait = pooler.config().getMicros("cancel_wait_timeout") / 1000;
                int millis = wait <= 0 ? 10_000 : (int) Math.min(Integer.MAX_VALUE, wait);
                pooler.connect(set.loop, host, set.target.port, millis, new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        ctx.writeAndFlush(Messages.cancelRequest(ctx.alloc(), pid, key))
                                .addListener(ChannelFutureListener.CLOSE);
                    }
                });
            }
            close("auth_query timed out");
        }

        void close(String reason) {
            if (closeReason == null) {
                closeReason = reason;
            }
            if (idleTimer != null) {
                idleTimer.cancel(false);
                idleTimer = null;
            }
            Phase was = phase;
            phase = Phase.CLOSED;
            if (was != Phase.CONNECTING && was != Phase.CLOSED && channel.isActive()) {
                channel.writeAndFlush(Messages.terminate(channel.alloc())).addListener(ChannelFutureListener.CLOSE);
            } else {
                channel.close();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            goneOnce(closeReason != null ? closeReason : "server closed the connection");
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.warn("S-{}: auth_query connection to {} error: {}", id, set.target, cause.toString());
            close("server error: " + cause.getMessage());
        }

        private void goneOnce(String why) {
            if (gone) {
                return;
            }
            gone = true;
            phase = Phase.CLOSED;
            if (idleTimer != null) {
                idleTimer.cancel(false);
                idleTimer = null;
            }
            Request r = request;
            request = null;
            if (r != null && !r.finished) {
                r.runningOn = null;
                if (!r.retried && !refusal) {
                    // An idle connection the server had already closed (a restart, idle_session_timeout).
                    r.retried = true;
                    set.queue.addFirst(r);
                } else {
                    log.warn("auth_query for user {} on {} failed: {}", r.user, set.target, why);
                    r.finish(new Result(null, CONFIG_ERROR));
                }
            }
            log.debug("S-{}: auth_query connection to {} closed: {}", id, set.target, why);
            set.gone(this, !loggedIn, refusal, why);
        }
    }

    /** Parse, Bind, Describe (portal), Execute and Sync of an unnamed statement with one text parameter. */
    private static ByteBuf extendedQuery(ByteBuf out, String query, String parameter) {
        byte[] sql = query.getBytes(StandardCharsets.UTF_8);
        byte[] value = parameter.getBytes(StandardCharsets.UTF_8);
        // Parse: unnamed statement, the query, no parameter types given (the server infers $1's).
        out.writeByte(Protocol.Frontend.PARSE).writeInt(4 + 1 + sql.length + 1 + 2);
        out.writeByte(0).writeBytes(sql).writeByte(0).writeShort(0);
        // Bind: unnamed portal and statement, all parameters text, one value, all results text.
        out.writeByte(Protocol.Frontend.BIND).writeInt(4 + 1 + 1 + 2 + 2 + 4 + value.length + 2);
        out.writeByte(0).writeByte(0).writeShort(0).writeShort(1).writeInt(value.length).writeBytes(value)
                .writeShort(0);
        out.writeByte(Protocol.Frontend.DESCRIBE).writeInt(4 + 1 + 1).writeByte('P').writeByte(0);
        out.writeByte(Protocol.Frontend.EXECUTE).writeInt(4 + 1 + 4).writeByte(0).writeInt(0);
        return out.writeByte(Protocol.Frontend.SYNC).writeInt(4);
    }
}
