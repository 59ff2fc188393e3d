package pgsvc.pooler;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.config.DatabaseEntry;
import pgsvc.protocol.FrameDecoder;
import pgsvc.protocol.Framer;
import pgsvc.protocol.Messages;
import pgsvc.protocol.ProtocolException;

/**
 * A client of the admin console, the virtual database {@code pgbouncer}: simple Query messages only, one command
 * each, in PgBouncer's grammar and answered as PgBouncer answers them (ERROR 08P01 for a bad command, the connection
 * kept). stats_users may run every SHOW but FDS; only admin_users run commands.
 */
final class ConsoleConnection extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(ConsoleConnection.class);
    static final String VERSION = "PgBouncer 1.25.2 (pgsvc 0.1.0)";

    /**
     * PgBouncer's regex elements: blanks, a word or "quoted" word, a 'string' (case-insensitive). The quoted forms
     * are possessive: java.util.regex recurses once per repetition of a group, so a plain {@code (?:a|b)*} over a
     * few thousand characters overflows the event loop's stack. Nothing in the grammar can follow a quoted word with
     * a quote, so giving back characters never helps a match and possessive matching accepts the same commands.
     */
    private static final String WS0 = "[ \\t\\n\\r]*";
    private static final String WS1 = "[ \\t\\n\\r]+";
    private static final String WORD = "(\"(?:[^\"]++|\"\")*+\"|[0-9a-z_]+)";
    private static final String STRING = "('(?:[^']++|'')*+')";
    private static final Pattern COMMAND = Pattern.compile(
            "^" + WS0 + WORD + "(?:" + WS1 + WORD + ")?" + WS0 + "(?:;" + WS0 + ")?$", Pattern.CASE_INSENSITIVE);
    private static final Pattern SET_STRING = Pattern.compile(
            "^" + WS0 + "set" + WS1 + WORD + WS0 + "(?:=|to)" + WS0 + STRING + WS0 + "(?:;" + WS0 + ")?$",
            Pattern.CASE_INSENSITIVE);
    private static final Pattern SET_WORD = Pattern.compile(
            "^" + WS0 + "set" + WS1 + WORD + WS0 + "(?:=|to)" + WS0 + WORD + WS0 + "(?:;" + WS0 + ")?$",
            Pattern.CASE_INSENSITIVE);
    /** Parameters some drivers SHOW or SET on any server; PgBouncer fakes them (fake_param_list). */
    private static final Map<String, String> FAKE_PARAMS = Map.of("client_encoding", "UTF-8",
            "default_transaction_isolation", "read committed", "standard_conforming_strings", "on",
            "datestyle", "ISO", "timezone", "GMT", "extra_float_digits", "2");

    private final Pooler pooler;
    private final String user;
    private final boolean admin;
    private final long id;
    private final long connectMillis;
    private ChannelHandlerContext ctx;
    private long cancelKey;
    /** A command's reply is still to come; input read meanwhile is held, in order, until it is out. */
    private boolean waiting;
    /** A FATAL went out or the client said Terminate: nothing more is answered. */
    private boolean ended;
    /** A FATAL for input that came after a command whose reply is still to come: it goes out after that reply. */
    private Runnable fatalAfterReply;
    private final ArrayDeque<ByteBuf> held = new ArrayDeque<>();
    /** The client connection's framing, taken over with what it holds of a frame not yet whole. */
    private final Framer framer;

    ConsoleConnection(Pooler pooler, String user, boolean admin, long id, long connectMillis, Framer framer) {
        this.pooler = pooler;
        this.framer = framer;
        this.user = user;
        this.admin = admin;
        this.id = id;
        this.connectMillis = connectMillis;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        // Listed (SHOW CLIENTS, KILL_CLIENT) until the socket closes, however it closes.
        pooler.consoleOpened(this);
        ctx.channel().closeFuture().addListener(f -> {
            pooler.consoleClosed(this);
            releaseHeld();
            framer.release();
        });
    }

    long id() {
        return id;
    }

    EventLoop loop() {
        return ctx.channel().eventLoop();
    }

    /** This connection in SHOW CLIENTS; on its loop. */
    SocketRow row() {
        return SocketRow.console(ctx.channel(), user, id, connectMillis, cancelKey);
    }

    /** KILL_CLIENT of a console connection. */
    void kill(String reason) {
        ctx.executor().execute(() -> fatal(ctx, reason));
    }

    /** AuthenticationOk, the console's fixed ParameterStatus set (as PgBouncer's), BackendKeyData, ReadyForQuery. */
    void welcome(ChannelHandlerContext ctx, long cancelKey) {
        this.cancelKey = cancelKey;
        ByteBuf out = ctx.alloc().buffer(256);
        Messages.authenticationOk(out);
        for (Map.Entry<String, String> p : Map.of("server_version", "1.25.2/bouncer", "client_encoding", "UTF8",
                "server_encoding", "UTF8", "DateStyle", "ISO", "TimeZone", "GMT", "standard_conforming_strings", "on",
                "is_superuser", "on").entrySet()) {
            Messages.parameterStatus(out, p.getKey(), p.getValue());
        }
        Messages.backendKeyData(out, (int) (cancelKey >>> 32), (int) cancelKey);
        Messages.readyForQuery(out, (byte) 'I');
        ctx.writeAndFlush(out);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf batch = framer.frame(ctx.alloc(), (ByteBuf) msg);
        if (batch != null) {
            console(ctx, batch);
        }
        ProtocolException failure = framer.failure();
        if (failure != null) {
            exceptionCaught(ctx, failure);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        framer.readComplete(ctx);
    }

    /** One batch of whole frames from the client. */
    private void console(ChannelHandlerContext ctx, ByteBuf batch) {
        if (ended) {
            batch.release();
            return;
        }
        if (waiting) {
            held.addLast(batch);
            return;
        }
        process(ctx, batch);
    }

    /** Runs the commands of a batch in order; what follows a command whose reply is still to come is held. */
    private void process(ChannelHandlerContext ctx, ByteBuf batch) {
        try {
            int end = batch.writerIndex();
            for (int i = batch.readerIndex(); i < end; i += FrameDecoder.frameLength(batch, i)) {
                byte type = batch.getByte(i);
                switch (type) {
                    case 'Q' -> {
                        int len = FrameDecoder.frameLength(batch, i);
                        String sql = Messages.readCString(batch, i + 5, i + len);
                        command(ctx, sql);
                        if (waiting) {
                            if (i + len < end) {
                                held.addFirst(batch.retainedSlice(i + len, end - i - len));
                            }
                            return;
                        }
                    }
                    case 'X' -> {
                        ended = true;
                        ctx.close();
                        return;
                    }
                    case 'P', 'B', 'D', 'E', 'S', 'C', 'H' -> {
                        fatal(ctx, "extended query protocol not supported by admin console");
                        return;
                    }
                    default -> {
                        fatal(ctx, "unsupported packet type for admin console: " + (type & 0xff));
                        return;
                    }
                }
            }
        } finally {
            batch.release();
        }
    }

    /**
     * A frame the decoder refuses (a bad length, a Query without its terminator) ends the session with a FATAL
     * ErrorResponse, as for any client; anything else unexpected closes it, logged, rather than leaving the client
     * waiting for an answer that never comes.
     */
    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.warn("C-{}: pgbouncer/{} closing because: {}", id, user, cause.toString());
        Runnable end = cause instanceof ProtocolException pe
                ? () -> fatal(ctx, pe.sqlState(), pe.getMessage())
                : () -> fatal(ctx, "08P01", "server error");
        if (waiting) {
            // The commands before the bad input are answered first, in order, as PgBouncer would.
            fatalAfterReply = end;
        } else {
            end.run();
        }
    }

    /** The reply to the current command comes later, from another loop or thread: input waits until it is out. */
    private void defer() {
        waiting = true;
        ctx.channel().config().setAutoRead(false);
    }

    /** Sends a deferred reply on this connection's loop, then goes on with the input held meanwhile. */
    private void later(Runnable reply) {
        ctx.executor().execute(() -> {
            reply.run();
            waiting = false;
            ctx.channel().config().setAutoRead(true);
            ByteBuf next;
            try {
                while (!waiting && !ended && (next = held.pollFirst()) != null) {
                    process(ctx, next);
                }
            } catch (RuntimeException e) {
                // Outside channelRead, so the pipeline would not pass it on: a bad frame held back ends it here.
                exceptionCaught(ctx, e);
            }
            if (!waiting && fatalAfterReply != null) {
                Runnable end = fatalAfterReply;
                fatalAfterReply = null;
                end.run();
            }
        });
    }

    private void releaseHeld() {
        ByteBuf b;
        while ((b = held.pollFirst()) != null) {
            b.release();
        }
    }

    /** One Query in PgBouncer's grammar: {@code CMD [ARG] [;]}, or {@code SET key =|TO value}. */
    private void command(ChannelHandlerContext ctx, String sql) {
        log.info("C-{}: pgbouncer/{} console command: {}", id, user, sql.trim());
        Matcher m = COMMAND.matcher(sql);
        if (m.matches()) {
            String verb = unquote(m.group(1), '"');
            String arg = m.group(2) == null ? null : unquote(m.group(2), '"');
            if (verb.length() >= 16 || arg != null && arg.length() >= 64) {
                error(ctx, "bad arguments");
                return;
            }
            run(ctx, sql, verb.toUpperCase(Locale.ROOT), arg == null || arg.isEmpty() ? null : arg);
            return;
        }
        char quote = '\'';
        m = SET_STRING.matcher(sql);
        if (!m.matches()) {
            quote = '"';
            m = SET_WORD.matcher(sql);
        }
        if (m.matches()) {
            String key = unquote(m.group(1), '"');
            String value = unquote(m.group(2), quote);
            if (key.isEmpty() || key.length() >= 64 || value.length() >= 256) {
                error(ctx, "bad arguments");
                return;
            }
            set(ctx, key, value);
            return;
        }
        syntaxError(ctx, sql);
    }

    private void run(ChannelHandlerContext ctx, String sql, String verb, String arg) {
        switch (verb) {
            case "SHOW", "SELECT" -> show(ctx, sql, arg);
            case "PAUSE" -> pause(ctx, arg);
            case "RESUME" -> resume(ctx, arg);
            case "SUSPEND" -> suspend(ctx, sql, arg);
            case "DISABLE", "ENABLE" -> enable(ctx, verb.equals("ENABLE"), arg);
            case "RECONNECT" -> reconnect(ctx, arg);
            case "KILL" -> kill(ctx, arg);
            case "KILL_CLIENT" -> killClient(ctx, arg);
            case "WAIT_CLOSE" -> waitClose(ctx, arg);
            case "RELOAD" -> reload(ctx, sql, arg);
            case "SHUTDOWN" -> shutdown(ctx, sql, arg);
            default -> syntaxError(ctx, sql);
        }
    }

    private void show(ChannelHandlerContext ctx, String sql, String what) {
        if (what == null) {
            syntaxError(ctx, sql);
            return;
        }
        String name = what.toLowerCase(Locale.ROOT);
        String fake = FAKE_PARAMS.get(name);
        if (fake != null) {
            send(ctx, ConsoleTable.of(name).row(fake));
            return;
        }
        switch (name) {
            // Pools answer from their own executors and connections from their own loops; the reply goes out here.
            case "pools" -> {
                defer();
                pooler.poolRows(rows -> later(() -> send(ctx, pools(rows))));
            }
            case "clients" -> sockets(ctx, ConsoleShows::clients);
            case "servers" -> sockets(ctx, ConsoleShows::servers);
            case "sockets" -> sockets(ctx, rows -> ConsoleShows.sockets(rows, false));
            case "active_sockets" -> sockets(ctx, rows -> ConsoleShows.sockets(rows, true));
            case "lists" -> sockets(ctx, rows -> ConsoleShows.lists(pooler, rows));
            case "latency" -> {
                // pgsvc's own: each loop hands over its latency histograms first.
                defer();
                pooler.stats().showLatency(table -> later(() -> send(ctx, table)));
            }
            case "mem" -> sockets(ctx, rows -> ConsoleShows.mem(pooler, rows));
            case "fds" -> {
                // Cancel keys of every client: PgBouncer keeps it from stats_users.
                if (requireAdmin(ctx)) {
                    sockets(ctx, ConsoleShows::fds);
                }
            }
            case "help" -> {
                ByteBuf out = ctx.alloc().buffer(1024);
                Messages.noticeResponse(out, "NOTICE", "00000", "Console usage", ConsoleShows.HELP_DETAIL, null);
                Messages.commandComplete(out, "SHOW");
                Messages.readyForQuery(out, (byte) 'I');
                ctx.writeAndFlush(out);
            }
            default -> {
                ConsoleTable table = show(pooler, what.toUpperCase(Locale.ROOT));
                if (table == null) {
                    syntaxError(ctx, sql);
                    return;
                }
                send(ctx, table);
            }
        }
    }

    private void sockets(ChannelHandlerContext ctx, Function<List<SocketRow>, ConsoleTable> table) {
        defer();
        pooler.socketRows(rows -> later(() -> send(ctx, table.apply(rows))));
    }

    /** PAUSE [db]: the reply comes once the transactions running on the paused pools are over. */
    private void pause(ChannelHandlerContext ctx, String db) {
        if (!requireAdmin(ctx)) {
            return;
        }
        if (pooler.isPausedAll()) {
            error(ctx, "already suspended/paused");
            return;
        }
        if (db != null && !knownDatabase(ctx, db, "cannot pause admin db: ")) {
            return;
        }
        defer();
        pooler.pause(db, () -> later(() -> done(ctx, "PAUSE")));
    }

    private void resume(ChannelHandlerContext ctx, String db) {
        if (!requireAdmin(ctx)) {
            return;
        }
        if (db == null) {
            if (pooler.isShuttingDown()) {
                error(ctx, "pooler is shutting down");
                return;
            }
            if (!pooler.resume(null)) {
                error(ctx, "pooler is not paused/suspended");
                return;
            }
        } else {
            if (!db.equals(DatabaseEntry.CONSOLE_DATABASE) && pooler.config().database(db) == null) {
                error(ctx, "no such database: " + db);
                return;
            }
            if (!pooler.resume(db)) {
                error(ctx, "database " + db + " is not paused");
                return;
            }
        }
        done(ctx, "RESUME");
    }

    /**
     * SUSPEND flushes and freezes every socket so that another process can take them over with SHOW FDS (online
     * restart, -R). pgsvc has no online restart, so after PgBouncer's own checks it refuses.
     */
    private void suspend(ChannelHandlerContext ctx, String sql, String arg) {
        if (arg != null) {
            syntaxError(ctx, sql);
            return;
        }
        if (!requireAdmin(ctx)) {
            return;
        }
        if (pooler.isPausedAll()) {
            error(ctx, "already suspended/paused");
        } else if (pooler.anyPaused()) {
            error(ctx, "cannot suspend with paused databases");
        } else {
            error(ctx, "SUSPEND is not supported: pgsvc has no online restart (-R); use PAUSE");
        }
    }

    /** DISABLE db refuses new logins to it ("database "db" is disabled"); ENABLE db lets them in again. */
    private void enable(ChannelHandlerContext ctx, boolean enable, String db) {
        if (!requireAdmin(ctx)) {
            return;
        }
        if (db == null) {
            error(ctx, "a database is required");
            return;
        }
        if (!knownDatabase(ctx, db, enable ? "cannot enable admin db: " : "cannot disable admin db: ")) {
            return;
        }
        if (enable) {
            pooler.enable(db);
        } else {
            pooler.disable(db);
        }
        done(ctx, enable ? "ENABLE" : "DISABLE");
    }

    /** RECONNECT [db]: servers are closed as they are released, and new ones opened. */
    private void reconnect(ChannelHandlerContext ctx, String db) {
        if (!requireAdmin(ctx)) {
            return;
        }
        if (db != null && !knownDatabase(ctx, db, "cannot reconnect admin db: ")) {
            return;
        }
        pooler.reconnect(db);
        done(ctx, "RECONNECT");
    }

    /** KILL [db]: its clients and servers are dropped and it stays paused until RESUME. */
    private void kill(ChannelHandlerContext ctx, String db) {
        if (!requireAdmin(ctx)) {
            return;
        }
        if (pooler.isPausedAll()) {
            error(ctx, "already suspended/paused");
            return;
        }
        if (db != null && !knownDatabase(ctx, db, "cannot kill admin db: ")) {
            return;
        }
        pooler.kill(db);
        done(ctx, "KILL");
    }

    /** KILL_CLIENT id: the id of SHOW CLIENTS. */
    private void killClient(ChannelHandlerContext ctx, String arg) {
        if (!requireAdmin(ctx)) {
            return;
        }
        long target = clientId(arg);
        if (target < 0) {
            error(ctx, "invalid client pointer supplied");
            return;
        }
        defer();
        pooler.killClient(target, found -> later(() -> {
            if (found) {
                done(ctx, "KILL_CLIENT");
            } else {
                error(ctx, "client not found");
            }
        }));
    }

    /** The leading digits of the argument, as C's {@code sscanf("%llu")} reads them; -1 if there are none. */
    private static long clientId(String arg) {
        int n = 0;
        while (arg != null && n < arg.length() && Character.isDigit(arg.charAt(n))) {
            n++;
        }
        if (n == 0) {
            return -1;
        }
        // An id no client can have (beyond a long) is simply not found.
        return n > 18 ? Long.MAX_VALUE : Long.parseLong(arg.substring(0, n));
    }

    /** WAIT_CLOSE [db]: the reply comes once no server of the database (or any) waits to be closed. */
    private void waitClose(ChannelHandlerContext ctx, String db) {
        if (!requireAdmin(ctx)) {
            return;
        }
        if (db != null && !knownDatabase(ctx, db, "cannot wait in admin db: ")) {
            return;
        }
        defer();
        pooler.waitClose(db, () -> later(() -> done(ctx, "WAIT_CLOSE")));
    }

    /** RELOAD: the process reads its file again, off the event loop; a failure is PgBouncer's F0000 error. */
    private void reload(ChannelHandlerContext ctx, String sql, String arg) {
        if (arg != null) {
            syntaxError(ctx, sql);
            return;
        }
        if (!requireAdmin(ctx)) {
            return;
        }
        ProcessControl control = pooler.processControl();
        defer();
        CompletableFuture.supplyAsync(() -> control != null && control.reload()).whenComplete((ok, e) -> later(() -> {
            if (Boolean.TRUE.equals(ok)) {
                done(ctx, "RELOAD");
            } else {
                log.warn("C-{}: RELOAD failed: {}", id, e != null ? e.toString() : "see above");
                error(ctx, "F0000", "RELOAD failed, see logs for additional details");
            }
        }));
    }

    /**
     * SHUTDOWN exits at once and, as in PgBouncer, never answers; WAIT_FOR_SERVERS and WAIT_FOR_CLIENTS answer once
     * the listeners are closed and the process waits for its servers or clients to go.
     */
    private void shutdown(ChannelHandlerContext ctx, String sql, String arg) {
        ProcessControl.Shutdown mode;
        if (arg == null) {
            mode = ProcessControl.Shutdown.IMMEDIATE;
        } else if (arg.equalsIgnoreCase("WAIT_FOR_SERVERS")) {
            mode = ProcessControl.Shutdown.WAIT_FOR_SERVERS;
        } else if (arg.equalsIgnoreCase("WAIT_FOR_CLIENTS")) {
            mode = ProcessControl.Shutdown.WAIT_FOR_CLIENTS;
        } else {
            syntaxError(ctx, sql);
            return;
        }
        if (!requireAdmin(ctx)) {
            return;
        }
        ProcessControl control = pooler.processControl();
        if (control == null) {
            error(ctx, "SHUTDOWN is not available: no process to shut down");
            return;
        }
        log.info("SHUTDOWN{} command issued", mode == ProcessControl.Shutdown.IMMEDIATE ? "" : " " + mode.name());
        defer();
        CompletableFuture.runAsync(() -> control.shutdown(mode)).whenComplete((v, e) -> {
            if (e != null) {
                log.error("SHUTDOWN failed", e);
            }
            if (mode != ProcessControl.Shutdown.IMMEDIATE) {
                later(() -> done(ctx, "SHUTDOWN"));
            }
        });
    }

    /**
     * SET key = value on the running configuration, as a RELOAD would apply that one key. The parameters drivers
     * set on any server are ignored with a NOTICE, for stats users too; anything else needs an admin, and an unknown
     * key, a bad value or a key that needs a restart is PgBouncer's "SET failed".
     */
    private void set(ChannelHandlerContext ctx, String key, String value) {
        if (FAKE_PARAMS.containsKey(key.toLowerCase(Locale.ROOT))) {
            ByteBuf out = ctx.alloc().buffer(64);
            Messages.noticeResponse(out, "NOTICE", "00000", "SET ignored");
            Messages.commandComplete(out, "SET");
            Messages.readyForQuery(out, (byte) 'I');
            ctx.writeAndFlush(out);
            return;
        }
        if (!requireAdmin(ctx)) {
            return;
        }
        ProcessControl control = pooler.processControl();
        defer();
        CompletableFuture.supplyAsync(() -> control == null ? "no process control installed" : control.set(key, value))
                .whenComplete((problem, e) -> later(() -> {
                    if (e == null && problem == null) {
                        done(ctx, "SET " + key + "=" + value);
                    } else {
                        log.warn("C-{}: SET {} = {} failed: {}", id, key, value, e != null ? e.toString() : problem);
                        error(ctx, "SET failed");
                    }
                }));
    }

    /** PgBouncer's checks of a database argument: the console's own is refused, others must be known. */
    private boolean knownDatabase(ChannelHandlerContext ctx, String db, String consoleError) {
        if (db.equals(DatabaseEntry.CONSOLE_DATABASE)) {
            error(ctx, consoleError + db);
            return false;
        }
        if (pooler.config().database(db) == null) {
            error(ctx, "no such database: " + db);
            return false;
        }
        return true;
    }

    private static void syntaxError(ChannelHandlerContext ctx, String sql) {
        error(ctx, "invalid command '" + sql + "', use SHOW HELP;");
    }

    private static void send(ChannelHandlerContext ctx, ConsoleTable table) {
        ByteBuf out = ctx.alloc().buffer(256);
        Messages.rowDescription(out, table.columns());
        for (java.util.List<String> row : table.rows()) {
            Messages.dataRow(out, row);
        }
        Messages.commandComplete(out, "SHOW");
        Messages.readyForQuery(out, (byte) 'I');
        ctx.writeAndFlush(out);
    }

    /** SHOW POOLS with PgBouncer 1.24+'s 17 columns; cl_active counts the logged-in clients that are not waiting. */
    static ConsoleTable pools(java.util.List<Object[]> rows) {
        ConsoleTable t = ConsoleTable.typed("database", TEXT, "user", TEXT, "cl_active", INT4, "cl_waiting", INT4,
                "cl_active_cancel_req", INT4, "cl_waiting_cancel_req", INT4, "sv_active", INT4,
                "sv_active_cancel", INT4, "sv_being_canceled", INT4, "sv_idle", INT4, "sv_used", INT4,
                "sv_tested", INT4, "sv_login", INT4, "maxwait", INT4, "maxwait_us", INT4, "pool_mode", TEXT,
                "load_balance_hosts", TEXT);
        rows.sort(java.util.Comparator.comparing((Object[] r) -> (String) r[0]).thenComparing(r -> (String) r[1]));
        for (Object[] r : rows) {
            t.row(r);
        }
        return t;
    }

    private static final int TEXT = 25;
    private static final int INT4 = 23;

    /** The SHOWs answered from what the pooler holds at hand; {@link Snapshots} serves them to the metrics too. */
    static ConsoleTable show(Pooler pooler, String what) {
        switch (what) {
            case "VERSION" -> {
                return ConsoleTable.of("version").row(VERSION);
            }
            case "STATE" -> {
                boolean paused = pooler.isPaused("");
                return ConsoleTable.of("key", "value").row("active", paused ? "no" : "yes")
                        .row("paused", paused ? "yes" : "no").row("suspended", "no");
            }
            case "CONFIG" -> {
                ConsoleTable t = ConsoleTable.of("key", "value", "default", "changeable");
                for (pgsvc.pooler.config.Setting s : pgsvc.pooler.config.Setting.all()) {
                    t.row(s.name(), pooler.config().get(s.name()), s.defaultValue(), s.reloadable() ? "yes" : "no");
                }
                return t;
            }
            case "DATABASES" -> {
                ConsoleTable t = ConsoleTable.typed("name", TEXT, "host", TEXT, "port", INT4, "database", TEXT,
                        "force_user", TEXT, "pool_size", INT4, "min_pool_size", INT4, "reserve_pool_size", INT4,
                        "server_lifetime", INT4, "pool_mode", TEXT, "load_balance_hosts", TEXT,
                        "max_connections", INT4, "current_connections", INT4, "max_client_connections", INT4,
                        "current_client_connections", INT4, "paused", INT4, "disabled", INT4);
                pgsvc.pooler.config.Config c = pooler.config();
                // As PgBouncer: the `*` entry is not listed, the databases it made up are, while they have a pool.
                List<DatabaseEntry> listed = new ArrayList<>();
                for (DatabaseEntry db : c.databases().values()) {
                    if (!db.name().equals(DatabaseEntry.WILDCARD)) {
                        listed.add(db);
                    }
                }
                for (String name : pooler.autodbNames()) {
                    DatabaseEntry db = c.database(name);
                    if (db != null) {
                        listed.add(db);
                    }
                }
                for (DatabaseEntry db : listed) {
                    t.row(db.name(), db.hosts().isEmpty() ? null : String.join(",", db.hosts()), db.port(),
                            db.dbname() != null ? db.dbname() : db.name(), db.user(),
                            db.poolSize() != null ? db.poolSize() : c.defaultPoolSize(),
                            db.minPoolSize() != null ? db.minPoolSize() : c.getInt("min_pool_size"),
                            db.reservePoolSize() != null ? db.reservePoolSize() : c.getInt("reserve_pool_size"),
                            db.serverLifetime() != null ? db.serverLifetime()
                                    : (int) (c.getMicros("server_lifetime") / 1_000_000),
                            db.poolMode() == null ? null : db.poolMode().configName(),
                            db.hosts().size() > 1 ? db.loadBalanceHosts() : null,
                            db.maxDbConnections() != null ? db.maxDbConnections() : c.getInt("max_db_connections"),
                            pooler.serverCount(db.name()),
                            db.maxDbClientConnections() != null ? db.maxDbClientConnections()
                                    : c.getInt("max_db_client_connections"),
                            pooler.clientCount(db.name()), pooler.isPaused(db.name()) ? 1 : 0,
                            pooler.isDisabled(db.name()) ? 1 : 0);
                }
                // The console's own database, as PgBouncer lists it: statement mode, two connections, user pgbouncer.
                t.row(DatabaseEntry.CONSOLE_DATABASE, null, c.listenPort(), DatabaseEntry.CONSOLE_DATABASE,
                        "pgbouncer", 2, c.getInt("min_pool_size"), c.getInt("reserve_pool_size"),
                        (int) (c.getMicros("server_lifetime") / 1_000_000), "statement", null,
                        c.getInt("max_db_connections"), 0, c.getInt("max_db_client_connections"),
                        pooler.consoleCount(), 0, 0);
                return t;
            }
            case "USERS" -> {
                return ConsoleShows.users(pooler);
            }
            case "PEERS" -> {
                return ConsoleShows.peers(pooler.config());
            }
            case "PEER_POOLS" -> {
                return ConsoleShows.peerPools(pooler);
            }
            case "DNS_HOSTS" -> {
                return pooler.dns().hostsTable();
            }
            case "DNS_ZONES" -> {
                return ConsoleShows.dnsZones();
            }
            case "STATS" -> {
                return pooler.stats().showStats();
            }
            case "STATS_TOTALS" -> {
                return pooler.stats().showStatsTotals();
            }
            case "STATS_AVERAGES" -> {
                return pooler.stats().showStatsAverages();
            }
            case "TOTALS" -> {
                return pooler.stats().showTotals();
            }
            default -> {
            }
        }
        Function<String, ConsoleTable> extension = pooler.consoleExtension();
        return extension == null ? null : extension.apply(what);
    }

    private boolean requireAdmin(ChannelHandlerContext ctx) {
        if (!admin) {
            error(ctx, "admin access needed");
        }
        return admin;
    }

    /** A word as PgBouncer copies it: verbatim, or without its quotes and with doubled quotes made single. */
    private static String unquote(String word, char quote) {
        if (word.length() >= 2 && word.charAt(0) == quote) {
            String q = String.valueOf(quote);
            return word.substring(1, word.length() - 1).replace(q + q, q);
        }
        return word;
    }

    private static void done(ChannelHandlerContext ctx, String tag) {
        ByteBuf out = ctx.alloc().buffer(32);
        Messages.commandComplete(out, tag);
        Messages.readyForQuery(out, (byte) 'I');
        ctx.writeAndFlush(out);
    }

    private static void error(ChannelHandlerContext ctx, String message) {
        error(ctx, "08P01", message);
    }

    private static void error(ChannelHandlerContext ctx, String sqlState, String message) {
        ByteBuf out = ctx.alloc().buffer(128);
        Messages.errorResponse(out, "ERROR", sqlState, message);
        Messages.readyForQuery(out, (byte) 'I');
        ctx.writeAndFlush(out);
    }

    private void fatal(ChannelHandlerContext ctx, String message) {
        fatal(ctx, "08P01", message);
    }

    private void fatal(ChannelHandlerContext ctx, String sqlState, String message) {
        if (ended) {
            return;
        }
        ended = true;
        ctx.writeAndFlush(Messages.errorResponse(ctx.alloc(), "FATAL", sqlState, message))
                .addListener(ChannelFutureListener.CLOSE);
    }
}
