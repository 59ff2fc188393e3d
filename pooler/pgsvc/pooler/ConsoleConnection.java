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
                ConsoleTable table = show(arg.toUpperCase(Locale.ROOT));
                if (table == null) {
                    error(ctx, "invalid command '" + q + "', use SHOW HELP;");
                    return;
                }
                ByteBuf out = ctx.alloc().buffer(256);
                Messages.rowDescription(out, table.columns());
                for (java.util.List<String> row : table.rows()) {
                    Messages.dataRow(out, row);
                }
                Messages.commandComplete(out, "SHOW");
                Messages.readyForQuery(out, (byte) 'I');
                ctx.writeAndFlush(out);
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

    private ConsoleTable show(String what) {
        if (what.equals("VERSION")) {
            return ConsoleTable.of("version").row(VERSION);
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
