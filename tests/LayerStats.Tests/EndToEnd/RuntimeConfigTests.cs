using System.Text.Json;

namespace LayerStats.Tests.EndToEnd;

/// <summary>
/// The CLI's runtime settings that bound its peak memory (LayerStats.Cli.csproj): the GC's gen0 budget, under the one
/// name the runtime reads from runtimeconfig.json (System.GC.Gen0MaxBudget; GC.GetConfigurationVariables() shows it as
/// GCGen0MaxBudget, while System.GC.Gen0Size there is ignored), the non-concurrent GC, and ConserveMemory 7 (the oldest
/// generation and the large-object heap compacted rather than kept committed when mostly free).
/// </summary>
public sealed class RuntimeConfigTests
{
    [Fact]
    public void The_cli_runs_with_a_4_MB_gen0_budget_the_non_concurrent_gc_and_conserve_memory_7()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "layerstats.runtimeconfig.json");
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var properties = json.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        Assert.Equal(4L << 20, properties.GetProperty("System.GC.Gen0MaxBudget").GetInt64());
        Assert.False(properties.GetProperty("System.GC.Concurrent").GetBoolean());
        Assert.Equal(7, properties.GetProperty("System.GC.ConserveMemory").GetInt32());
    }
}
