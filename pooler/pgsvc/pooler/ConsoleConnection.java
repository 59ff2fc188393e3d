package pgsvc.pooler;

import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.protocol.FrameDecoder;
import pgsvc.protocol.Messages;

/**
 * A client of the admin console, the virtual database {@code pgbouncer}: simple Query messages only, one command
 * each, answered as PgBouncer answers them (ERROR 08P01 for a bad command, the connection kept).
 */
final class ConsoleConnection extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(ConsoleConnection.class);
    static final String VERSION = "PgBouncer 1.25.2 (pgsvc 0.1.0)";

    private final Pooler pooler;
    private final String user;
    private final boolean admin;

    ConsoleConnection(Pooler pooler, String user, boolean admin) {
        this.pooler = pooler;
        this.user = user;
        this.admin = admin;
    }

    /** AuthenticationOk, the console's fixed ParameterStatus set (as PgBouncer's), BackendKeyData, ReadyForQuery. */
    void welcome(ChannelHandlerContext ctx, long cancelKey) {
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
        ByteBuf batch = (ByteBuf) msg;
        try {
            for (int i = batch.readerIndex(); i < batch.writerIndex(); i += FrameDecoder.frameLength(batch, i)) {
                byte type = batch.getByte(i);
                switch (type) {
                    case 'Q' -> {
                        int len = FrameDecoder.frameLength(batch, i);
                        String sql = Messages.readCString(batch, i + 5, i + len);
                        command(ctx, sql);
                    }
                    case 'X' -> {
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

    private void command(ChannelHandlerContext ctx, String sql) {
        String q = sql.trim();
        while (q.endsWith(";")) {
            q = q.substring(0, q.length() - 1).trim();
        }
        String[] words = q.isEmpty() ? new String[0] : q.split("\\s+");
        String verb = words.length > 0 ? words[0].toUpperCase(Locale.ROOT) : "";
        String arg = words.length > 1 ? unquote(words[1]) : null;
        log.info("C-console: pgbouncer/{} console command: {}", user, q);
        switch (verb) {
            case "SHOW", "SELECT" -> {
                if (arg == null) {
                    error(ctx, "invalid command '" + q + "', use SHOW HELP;");
                    return;
                }
                if (arg.equalsIgnoreCase("pools")) {
                    // Pools answer from their own executors; the reply goes out on this connection's loop.
                    pooler.poolRows(rows -> ctx.executor().execute(() -> send(ctx, pools(rows))));
                    return;
                }
                ConsoleTable table = show(arg.toUpperCase(Locale.ROOT));
                if (table == null) {
                    error(ctx, "invalid command '" + q + "', use SHOW HELP;");
                    return;
                }
                send(ctx, table);
            }
            case "PAUSE" -> {
                if (requireAdmin(ctx)) {
                    // The reply comes once the transactions running on the paused pools are over.
                    pooler.pause(arg, () -> ctx.executor().execute(() -> done(ctx, "PAUSE")));
                }
            }
            case "RESUME" -> {
                if (!requireAdmin(ctx)) {
                    return;
                }
                if (!pooler.resume(arg)) {
                    error(ctx, arg == null ? "pooler is not paused/suspended" : "database " + arg + " is not paused");
                    return;
                }
                done(ctx, "RESUME");
            }
            default -> error(ctx, "invalid command '" + q + "', use SHOW HELP;");
        }
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

    /** SHOW POOLS with PgBouncer 1.24+'s 17 columns; cl_active counts the clients linked to a server. */
    private static ConsoleTable pools(java.util.List<Object[]> rows) {
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

    private ConsoleTable show(String what) {
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
                for (pgsvc.pooler.config.DatabaseEntry db : c.databases().values()) {
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
                            0, pooler.isPaused(db.name()) ? 1 : 0, 0);
                }
                return t;
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

    private static String unquote(String word) {
        if (word.length() >= 2 && word.startsWith("\"") && word.endsWith("\"")) {
            return word.substring(1, word.length() - 1).replace("\"\"", "\"");
        }
        return word.toLowerCase(Locale.ROOT);
    }

    private static void done(ChannelHandlerContext ctx, String tag) {
        ByteBuf out = ctx.alloc().buffer(32);
        Messages.commandComplete(out, tag);
        Messages.readyForQuery(out, (byte) 'I');
        ctx.writeAndFlush(out);
    }

    private static void error(ChannelHandlerContext ctx, String message) {
        ByteBuf out = ctx.alloc().buffer(128);
        Messages.errorResponse(out, "ERROR", "08P01", message);
        Messages.readyForQuery(out, (byte) 'I');
        ctx.writeAndFlush(out);
    }

    private static void fatal(ChannelHandlerContext ctx, String message) {
        ctx.writeAndFlush(Messages.errorResponse(ctx.alloc(), "FATAL", "08P01", message))
                .addListener(ChannelFutureListener.CLOSE);
    }
}
