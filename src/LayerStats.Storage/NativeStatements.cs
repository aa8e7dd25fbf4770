using DuckDB.NET.Data;
using DuckDB.NET.Native;

namespace LayerStats.Storage;

/// <summary>
/// A DuckDB prepared statement kept for reuse on one connection, through DuckDB.NET's native bindings: DuckDB.NET
/// 1.5.6.1 prepares a command again on every ExecuteNonQuery, and for the writer's small INSERT ... VALUES statements the
/// parsing and planning is most of their CPU (measured: ~150-300 us a statement, ~40-55 us executing a prepared one).
/// Parameters are bound in order (each method binds the next one), with the target column's exact type (a value of another type would make DuckDB plan the statement
/// again, and a TIMESTAMP bound to a TIMESTAMPTZ would be read in the session's time zone). A NULL is written into the statement's text: a NULL bound is of no type, and DuckDB plans the statement again for it (measured: 60 -> 180 us).
/// DuckDB's errors come as <see cref="InvalidOperationException"/> with DuckDB's message (DuckDB.NET's DuckDBException
/// has no public constructor).
/// </summary>
internal sealed class NativeStatement : IDisposable
{
    private readonly DuckDBPreparedStatement _statement;

    internal NativeStatement(DuckDBConnection connection, string sql)
    {
        Sql = sql;
        if (NativeMethods.PreparedStatements.DuckDBPrepare(connection.NativeConnection, sql, out _statement) != DuckDBState.Success)
        {
            string error = NativeMethods.PreparedStatements.DuckDBPrepareError(_statement);
            _statement.Dispose();
            throw new InvalidOperationException(error);
        }

        _parameters = NativeMethods.PreparedStatements.DuckDBParams(_statement);
    }

    private readonly long _parameters;

    public string Sql { get; }

    /// <summary>The next parameter to bind (1-based): values are bound in the order of the statement's parameters.</summary>
    private int _next = 1;

    public NativeStatement Text(string value) =>
        Check(NativeMethods.PreparedStatements.DuckDBBindVarchar(_statement, _next, value));

    /// <summary>A value, or nothing when it is null: the statement's text for that case has the literal NULL instead of a parameter.</summary>
    public NativeStatement TextOrSkip(string? value) => value is null ? this : Text(value);

    public NativeStatement Int32(int value) =>
        Check(NativeMethods.PreparedStatements.DuckDBBindInt32(_statement, _next, value));

    public NativeStatement Int64(long value) =>
        Check(NativeMethods.PreparedStatements.DuckDBBindInt64(_statement, _next, value));

    public NativeStatement Boolean(bool value) =>
        Check(NativeMethods.PreparedStatements.DuckDBBindBoolean(_statement, _next, value));

    public NativeStatement Double(double value) =>
        Check(NativeMethods.PreparedStatements.DuckDBBindDouble(_statement, _next, value));

    public NativeStatement DoubleOrSkip(double? value) => value is { } v ? Double(v) : this;

    public NativeStatement Blob(byte[] value) =>
        Check(NativeMethods.PreparedStatements.DuckDBBindBlob(_statement, _next, value, value.Length));

    /// <summary>A TIMESTAMPTZ: microseconds since the Unix epoch (UTC), as DuckDB stores it.</summary>
    public NativeStatement TimestampTz(DateTimeOffset value)
    {
        long micros = (value.UtcTicks - DateTimeOffset.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;
        using var duckValue = NativeMethods.Value.DuckDBCreateTimestampTz(new DuckDBTimestampStruct { Micros = micros });
        return Check(NativeMethods.PreparedStatements.DuckDBBindValue(_statement, _next, duckValue));
    }

    public NativeStatement TimestampTzOrSkip(DateTimeOffset? value) => value is { } v ? TimestampTz(v) : this;

    /// <summary>Runs the statement with the values bound; returns the number of rows it changed.</summary>
    public long Execute()
    {
        if (_next - 1 != _parameters)
        {
            int bound = _next - 1;
            _next = 1;
            throw new InvalidOperationException($"{bound} of {_parameters} parameters bound for: {Sql}");
        }

        _next = 1;
        var state = NativeMethods.PreparedStatements.DuckDBExecutePrepared(_statement, out var result);
        try
        {
            if (state != DuckDBState.Success)
            {
                throw new InvalidOperationException(NativeMethods.Query.DuckDBResultError(ref result));
            }

            return NativeMethods.Query.DuckDBRowsChanged(ref result);
        }
        finally
        {
            NativeMethods.Query.DuckDBDestroyResult(ref result);
        }
    }

    public void Dispose() => _statement.Dispose();

    private NativeStatement Check(DuckDBState state)
    {
        if (state != DuckDBState.Success)
        {
            int index = _next;
            _next = 1;
            throw new InvalidOperationException($"cannot bind parameter {index} of: {Sql}");
        }

        _next++;
        return this;
    }
}

/// <summary>
/// The prepared statements of one connection, by their SQL text, each prepared on first use. They go with the connection:
/// when it closes (a prepared statement holds DuckDB's client context, and with it the database file, open), or when the
/// cache is disposed.
/// </summary>
internal sealed class StatementCache : IDisposable
{
    private readonly DuckDBConnection _connection;
    private readonly Dictionary<string, NativeStatement> _statements = new(StringComparer.Ordinal);

    public StatementCache(DuckDBConnection connection)
    {
        _connection = connection;
        _connection.StateChange += OnStateChange;
    }

    /// <summary>The statement for <paramref name="sql"/>, prepared on first use.</summary>
    public NativeStatement Get(string sql)
    {
        if (!_statements.TryGetValue(sql, out var statement))
        {
            statement = new NativeStatement(_connection, sql);
            _statements.Add(sql, statement);
        }

        return statement;
    }

    public int Count => _statements.Count;

    public void Dispose()
    {
        _connection.StateChange -= OnStateChange;
        Clear();
    }

    private void OnStateChange(object sender, System.Data.StateChangeEventArgs e)
    {
        if (e.CurrentState != System.Data.ConnectionState.Open)
        {
            Clear();
        }
    }

    private void Clear()
    {
        foreach (var statement in _statements.Values)
        {
            statement.Dispose();
        }

        _statements.Clear();
    }
}
