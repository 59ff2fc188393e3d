package pgsvc.pooler;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;

import pgsvc.pooler.PreparedStatements.Statement;
import pgsvc.protocol.FrameDecoder;
import pgsvc.protocol.Messages;
import pgsvc.protocol.Protocol;

/**
 * One client's named prepared statements in transaction and statement mode (PgBouncer's max_prepared_statements,
 * prepare.c): a named Parse maps the client's name to a pooler-wide {@link Statement}, and whichever server the
 * client is linked to gets the statement under its server-side name, prepared on the fly when it lacks it.
 *
 * <p>Client to server, each frame is looked at where it lies: a Parse, Bind, Describe or Close naming one of the
 * client's statements is re-encoded with the server-side name (for a Bind only its start: the parameter bytes go on
 * from the batch, see {@link Splice}), a Parse or Close is injected where the server's LRU needs one, a Close of a
 * client statement and a Parse of one the server has are answered by the pooler. Anything else, unnamed statements
 * and portals included, passes untouched.
 *
 * <p>Server to client, the pooler must swallow the responses to what it injected and put its own answers in the right
 * place. Both directions count on the link: messages that end in ReadyForQuery (Sync, Query, FunctionCall), and
 * within each such segment the messages with exactly one closing response (Parse, Bind, Describe, Execute, Close),
 * so that a point of the response stream is known by (ReadyForQuery count, closing responses since). Only the
 * messages whose responses the pooler changes are queued, with their point; an ErrorResponse makes the server skip
 * to Sync, and the queued messages it skips are undone, latest first, as if never sent. The queue is empty on the
 * common path, a Bind of a statement the server has.
 *
 * <p>Buffers: the batches stay with the caller's {@link Splice}; every buffer made here is handed to that Splice or
 * written to the client. Touched only on the client's event loop; the server's LRU only while linked.
 */
final class StatementTracker {
    private enum Kind {
        /** A Parse sent to the server: the client's own (renamed), or one injected before a Bind or Describe. */
        PARSE(true),
        /** An injected Close that evicts a statement from the server's LRU. */
        EVICT(true),
        /** The client's Parse of a statement the server has already: the pooler gives the ParseComplete. */
        PARSE_KNOWN(false),
        /** The client's Close of one of its statements: the pooler gives the CloseComplete. */
        CLOSE(false),
        /** The client's Parse of a name it uses already: a Describe that fails stands in, its error becomes 42P05. */
        DUPLICATE(true),
        /** The client's SQL DEALLOCATE of one of its statements: an empty query stands in. */
        DEALLOCATE(true);

        /** Whether the server answers it (else the pooler does). */
        final boolean sent;

        Kind(boolean sent) {
            this.sent = sent;
        }
    }

    /**
     * A message whose response the pooler changes, at its point of the stream.
     *
     * @param name the client's statement name; null for what the pooler injected
     */
    private record Pending(Kind kind, long segment, int position, byte[] name, Statement statement) {
    }

    private static final int DEFAULT_CAPACITY = 200;
    private static final byte[] PREFIX = PreparedStatements.NAME_PREFIX.getBytes(StandardCharsets.US_ASCII);

    private final PreparedStatements registry;
    private final Channel client;
    private final StatementNames names = new StatementNames();
    private final ArrayDeque<Pending> pending = new ArrayDeque<>(4);

    private ServerStatements server;
    private int capacity;
    /** Messages sent on this link that end in ReadyForQuery, and ReadyForQuery received. */
    private long segmentsSent;
    private long segmentsDone;
    /** Messages with one closing response sent in the current segment; closing responses received in the oldest. */
    private int sent;
    private int received;
    /** An ErrorResponse came in the oldest open segment: the server skips everything until Sync. */
    private boolean skipping;
    private boolean clientFlush;
    /** Where Parses and Binds are counted (SHOW STATS): the linked pool's slot for the client's loop. */
    private PoolStats.Slot stats;

    StatementTracker(PreparedStatements registry, Channel client) {
        this.registry = registry;
        this.client = client;
    }

    /** Starts a link to a server with that server's LRU, bounded by max_prepared_statements. */
    void link(ServerStatements statements, int maxPrepared) {
        link(statements, maxPrepared, null);
    }

    /** The same, counting Parses and Binds in {@code slot} (null: not counted). */
    void link(ServerStatements statements, int maxPrepared, PoolStats.Slot slot) {
        stats = slot;
        server = statements;
        // Turned off by a RELOAD: a client that has statements keeps them working with PgBouncer's default size.
        capacity = maxPrepared > 0 ? maxPrepared : DEFAULT_CAPACITY;
        segmentsSent = 0;
        segmentsDone = 0;
        sent = 0;
        received = 0;
        skipping = false;
        pending.clear();
    }

    void unlink() {
        server = null;
        pending.clear();
    }

    /** No response is waiting to be changed: the server may go back to the pool as far as statements go. */
    boolean idle() {
        return pending.isEmpty();
    }

    boolean hasStatements() {
        return !names.isEmpty();
    }

    /** The client's named statements, SHOW CLIENTS's prepared_statements. */
    int count() {
        return names.size();
    }

    /** Whether pooler answers were written to the client since the last call, so that it needs a flush. */
    boolean takeClientFlush() {
        boolean f = clientFlush;
        clientFlush = false;
        return f;
    }

    // ---- client -> server -----------------------------------------------------------------------------------------

    /** The client's frame at {@code i} ({@code length} bytes, type {@code type}) on its way to the server. */
    void clientMessage(ByteBuf b, int i, int length, byte type, Splice out) {
        if (skipping && segmentsSent == segmentsDone) {
            // The server ignores everything until Sync after an error, and so does the pooler: nothing changes.
            if (type == Protocol.Frontend.SYNC) {
                endSegment();
            }
            return;
        }
        switch (type) {
            case Protocol.Frontend.SYNC, Protocol.Frontend.FUNCTION_CALL -> endSegment();
            case Protocol.Frontend.QUERY -> {
                deallocate(b, i, length, out);
                endSegment();
            }
            case Protocol.Frontend.EXECUTE -> sent++;
            case Protocol.Frontend.PARSE -> parse(b, i, length, out);
            case Protocol.Frontend.BIND -> bind(b, i, length, out);
            case Protocol.Frontend.DESCRIBE -> describe(b, i, length, out);
            case Protocol.Frontend.CLOSE -> close(b, i, length, out);
            default -> {
                // Flush, CopyData, CopyDone, CopyFail: no closing response of their own.
            }
        }
    }

    private void parse(ByteBuf b, int i, int length, Splice out) {
        int end = i + length;
        int nameStart = FrameDecoder.bodyIndex(i);
        int nameEnd = b.indexOf(nameStart, end, (byte) 0);
        if (nameEnd <= nameStart) {
            sent++;
            return;
        }
        int nameLength = nameEnd - nameStart;
        if (names.get(b, nameStart, nameLength) != null) {
            // PostgreSQL fails the Parse with 42P05, skips to Sync and aborts the transaction. For the server to do
            // the same at this very point, a Describe of a statement that exists nowhere stands in for the Parse.
            Messages.describe(out.replacing(i, end, 7 + PreparedStatements.NEVER_PREPARED.length), (byte) 'S',
                    PreparedStatements.NEVER_PREPARED);
            expect(Kind.DUPLICATE, ByteBufUtil.getBytes(b, nameStart, nameLength), null);
            return;
        }
        byte[] name = ByteBufUtil.getBytes(b, nameStart, nameLength);
        Statement statement = registry.intern(ByteBufUtil.getBytes(b, nameEnd + 1, end - nameEnd - 1));
        names.put(name, statement);
        if (stats != null) {
            stats.clientParse();
        }
        if (server.touch(statement)) {
            out.replace(i, end, null);
            answer(Kind.PARSE_KNOWN, name, statement);
            return;
        }
        if (stats != null) {
            stats.serverParse();
        }
        evict(i, out);
        server.add(statement);
        Messages.parsePrefix(out.replacing(i, nameEnd + 1, 6 + statement.serverName.length), statement.serverName,
                end - nameEnd - 1);
        expect(Kind.PARSE, name, statement);
    }

    private void bind(ByteBuf b, int i, int length, Splice out) {
        int end = i + length;
        int portalStart = FrameDecoder.bodyIndex(i);
        int portalEnd = b.indexOf(portalStart, end, (byte) 0);
        int nameStart = portalEnd + 1;
        Statement statement = null;
        int nameEnd = -1;
        if (portalEnd >= 0 && nameStart < end && b.getByte(nameStart) != 0) {
            nameEnd = b.indexOf(nameStart, end, (byte) 0);
            if (nameEnd > nameStart) {
                statement = names.get(b, nameStart, nameEnd - nameStart);
            }
        }
        if (statement != null) {
            if (stats != null) {
                stats.bind();
            }
            prepare(statement, i, out);
            int portalLength = portalEnd - portalStart;
            ByteBuf prefix = out.replacing(i, nameEnd + 1, 7 + portalLength + statement.serverName.length);
            Messages.bindPrefix(prefix, b, portalStart, portalLength, statement.serverName, end - nameEnd - 1);
        }
        // A name that is not the client's goes as it is: PostgreSQL answers 26000 naming it, as it would directly,
        // or finds its own statement of that name (SQL PREPARE).
        sent++;
    }

    private void describe(ByteBuf b, int i, int length, Splice out) {
        int end = i + length;
        int nameStart = FrameDecoder.bodyIndex(i) + 1;
        if (nameStart < end && b.getByte(nameStart - 1) == 'S' && b.getByte(nameStart) != 0) {
            int nameEnd = b.indexOf(nameStart, end, (byte) 0);
            Statement statement = nameEnd < 0 ? null : names.get(b, nameStart, nameEnd - nameStart);
            if (statement != null) {
                prepare(statement, i, out);
                Messages.describe(out.replacing(i, end, 7 + statement.serverName.length), (byte) 'S',
                        statement.serverName);
            }
        }
        sent++;
    }

    private void close(ByteBuf b, int i, int length, Splice out) {
        int end = i + length;
        int nameStart = FrameDecoder.bodyIndex(i) + 1;
        if (nameStart < end && b.getByte(nameStart - 1) == 'S' && b.getByte(nameStart) != 0) {
            int nameEnd = b.indexOf(nameStart, end, (byte) 0);
            if (nameEnd > nameStart) {
                byte[] name = ByteBufUtil.getBytes(b, nameStart, nameEnd - nameStart);
                Statement statement = names.remove(name);
                if (statement != null) {
                    // The statement stays on the servers for other clients; only the client's name goes.
                    out.replace(i, end, null);
                    answer(Kind.CLOSE, name, statement);
                    return;
                }
            }
        }
        // Not the client's: the server closes its own statement of that name, or nothing, and says CloseComplete.
        sent++;
    }

    /** SQL {@code DEALLOCATE name} of a client statement: the name goes, and an empty query takes the round trip. */
    private void deallocate(ByteBuf b, int i, int length, Splice out) {
        int nulAt = i + length - 1;
        byte first = b.getByte(FrameDecoder.bodyIndex(i));
        if (nulAt <= FrameDecoder.bodyIndex(i) || (first | 0x20) != 'd' && !StatementSql.isSpace(first)) {
            return;
        }
        byte[] name = StatementSql.deallocateName(b, FrameDecoder.bodyIndex(i), nulAt);
        Statement statement = name == null ? null : names.remove(name);
        if (statement != null) {
            out.replace(i, i + length, Messages.query(client.alloc(), ""));
            expect(Kind.DEALLOCATE, name, statement);
        }
    }

    /** Makes sure the linked server has the statement, injecting its Parse before the frame at {@code at}. */
    private void prepare(Statement statement, int at, Splice out) {
        if (server.touch(statement)) {
            return;
        }
        if (stats != null) {
            stats.serverParse();
        }
        evict(at, out);
        server.add(statement);
        out.insert(at, Messages.parse(client.alloc().ioBuffer(6 + statement.serverName.length
                + statement.body.length), statement.serverName, statement.body));
        expect(Kind.PARSE, null, statement);
    }

    /** Makes room in the server's LRU for one more, closing the least recently used there. */
    private void evict(int at, Splice out) {
        while (server.size() >= capacity) {
            Statement eldest = server.removeEldest();
            out.insert(at, Messages.close(client.alloc().ioBuffer(7 + eldest.serverName.length), (byte) 'S',
                    eldest.serverName));
            expect(Kind.EVICT, null, eldest);
        }
    }

    private void endSegment() {
        segmentsSent++;
        sent = 0;
    }

    /** Queues a message sent to the server at the current point; it has one closing response. */
    private void expect(Kind kind, byte[] name, Statement statement) {
        pending.addLast(new Pending(kind, segmentsSent, sent, name, statement));
        sent++;
    }

    /** Queues an answer of the pooler's at the current point; it goes out at once if nothing is outstanding. */
    private void answer(Kind kind, byte[] name, Statement statement) {
        pending.addLast(new Pending(kind, segmentsSent, sent, name, statement));
        answerDue(null, 0);
    }

    // ---- server -> client -----------------------------------------------------------------------------------------

    /**
     * The server's frame at {@code i} on its way to the client. Returns false when the responses no longer match what
     * was sent, which leaves the link unusable.
     */
    boolean serverMessage(ByteBuf b, int i, int length, byte type, Splice out) {
        switch (type) {
            case Protocol.Backend.READY_FOR_QUERY -> {
                segmentsDone++;
                received = 0;
                skipping = false;
                answerDue(out, i + length);
                return true;
            }
            case Protocol.Backend.PARSE_COMPLETE, Protocol.Backend.BIND_COMPLETE, Protocol.Backend.CLOSE_COMPLETE,
                    Protocol.Backend.NO_DATA, Protocol.Backend.ROW_DESCRIPTION, Protocol.Backend.COMMAND_COMPLETE,
                    Protocol.Backend.EMPTY_QUERY_RESPONSE, Protocol.Backend.PORTAL_SUSPENDED,
                    Protocol.Backend.ERROR_RESPONSE -> {
                // The closing response of one message (inside a simple Query these count too, harmlessly: nothing
                // is queued at points within a Query's responses but the Query itself).
            }
            default -> {
                return true;
            }
        }
        Pending p = pending.peekFirst();
        boolean replaced = false;
        if (p != null && p.segment == segmentsDone) {
            if (p.position < received) {
                return false;
            }
            if (p.position == received && p.kind.sent) {
                pending.pollFirst();
                if (!settle(p, b, i, length, type, out)) {
                    return false;
                }
                replaced = p.kind == Kind.DUPLICATE;
            }
        }
        if (type == Protocol.Backend.COMMAND_COMPLETE && StatementSql.dropsAllStatements(b, i, length)) {
            server.clear();
            names.clear();
        }
        received++;
        if (type == Protocol.Backend.ERROR_RESPONSE) {
            if (!replaced) {
                renameInError(b, i, length, out);
            }
            skipping = true;
            skipToSync();
        }
        answerDue(out, i + length);
        return true;
    }

    /** The closing response to a queued message that went to the server. */
    private boolean settle(Pending p, ByteBuf b, int i, int length, byte type, Splice out) {
        boolean error = type == Protocol.Backend.ERROR_RESPONSE;
        switch (p.kind) {
            case PARSE -> {
                if (error) {
                    // A failed Parse leaves nothing prepared; the client sees why (for an injected one, at its Bind).
                    undo(p);
                    return true;
                }
                if (p.name == null) {
                    out.replace(i, i + length, null);
                }
                return type == Protocol.Backend.PARSE_COMPLETE;
            }
            case EVICT -> {
                out.replace(i, i + length, null);
                return type == Protocol.Backend.CLOSE_COMPLETE;
            }
            case DUPLICATE -> {
                String name = new String(p.name, StandardCharsets.UTF_8);
                out.replace(i, i + length, Messages.errorResponse(client.alloc(), Protocol.Severity.ERROR, "42P05",
                        "prepared statement \"" + name + "\" already exists"));
                return error;
            }
            case DEALLOCATE -> {
                if (error) {
                    undo(p);
                    return true;
                }
                out.replace(i, i + length, Messages.commandComplete(client.alloc(), "DEALLOCATE"));
                return type == Protocol.Backend.EMPTY_QUERY_RESPONSE;
            }
            default -> {
                return false;
            }
        }
    }

    /**
     * Some errors name the statement (a Bind with the wrong number of parameters): there the client's name replaces
     * the server-side one, so that the client reads what a direct connection would have said.
     */
    private void renameInError(ByteBuf b, int i, int length, Splice out) {
        int end = i + length;
        ByteBuf copy = null;
        int copied = i;
        int q = b.indexOf(FrameDecoder.bodyIndex(i), end, (byte) '"');
        for (; q >= 0; q = b.indexOf(q + 1, end, (byte) '"')) {
            int digits = q + 1 + PREFIX.length;
            if (digits >= end || !startsWith(b, q + 1, PREFIX)) {
                continue;
            }
            long id = 0;
            int close = digits;
            while (close < end && b.getByte(close) >= '0' && b.getByte(close) <= '9' && close - digits < 18) {
                id = id * 10 + b.getByte(close) - '0';
                close++;
            }
            byte[] name = close > digits && close < end && b.getByte(close) == '"' ? names.nameOf(id) : null;
            if (name == null) {
                continue;
            }
            if (copy == null) {
                copy = client.alloc().ioBuffer(length + 64);
            }
            copy.writeBytes(b, copied, q + 1 - copied).writeBytes(name);
            copied = close;
            q = close;
        }
        if (copy != null) {
            copy.writeBytes(b, copied, end - copied);
            copy.setInt(copy.readerIndex() + 1, copy.readableBytes() - 1);
            out.replace(i, end, copy);
        }
    }

    private static boolean startsWith(ByteBuf b, int at, byte[] prefix) {
        for (int j = 0; j < prefix.length; j++) {
            if (b.getByte(at + j) != prefix[j]) {
                return false;
            }
        }
        return true;
    }

    /** Sends the pooler's own answers whose point of the stream has come, before the frame at {@code at}. */
    private void answerDue(Splice out, int at) {
        Pending p;
        while (!skipping && (p = pending.peekFirst()) != null && !p.kind.sent && p.segment == segmentsDone
                && p.position == received) {
            pending.pollFirst();
            ByteBuf reply = client.alloc().ioBuffer(5);
            if (p.kind == Kind.PARSE_KNOWN) {
                Messages.parseComplete(reply);
            } else {
                Messages.closeComplete(reply);
            }
            if (out != null) {
                out.insert(at, reply);
            } else {
                client.write(reply, client.voidPromise());
                clientFlush = true;
            }
        }
    }

    /** After an ErrorResponse the server ignores the rest of the segment: what it ignores is undone, latest first. */
    private void skipToSync() {
        int n = 0;
        for (Pending p : pending) {
            if (p.segment != segmentsDone) {
                break;
            }
            n++;
        }
        if (n == 0) {
            return;
        }
        Pending[] skipped = new Pending[n];
        for (int j = 0; j < n; j++) {
            skipped[j] = pending.pollFirst();
        }
        for (int j = n - 1; j >= 0; j--) {
            undo(skipped[j]);
        }
    }

    private void undo(Pending p) {
        switch (p.kind) {
            case PARSE -> {
                server.remove(p.statement);
                if (p.name != null) {
                    names.remove(p.name, p.statement);
                }
            }
            case EVICT -> server.add(p.statement);
            case PARSE_KNOWN -> names.remove(p.name, p.statement);
            case CLOSE, DEALLOCATE -> names.putIfAbsent(p.name, p.statement);
            case DUPLICATE -> {
            }
            default -> throw new IllegalStateException(p.kind.name());
        }
    }
}
