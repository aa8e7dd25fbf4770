using System.Text.Json;

namespace LayerStats.Tests.EndToEnd;

/// <summary>
/// The CLI's runtime settings that bound its peak memory (LayerStats.Cli.csproj): the GC's gen0 budget, under the one
/// name the runtime reads from runtimeconfig.json (System.GC.Gen0MaxBudget; GC.GetConfigurationVariables() shows it as
/// GCGen0MaxBudget, while System.GC.Gen0Size there is ignored), and the non-concurrent GC.
/// </summary>
public sealed class RuntimeConfigTests
{
    [Fact]
    public void The_cli_runs_with_a_4_MB_gen0_budget_and_the_non_concurrent_gc()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "layerstats.runtimeconfig.json");
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var properties = json.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        Assert.Equal(4L << 20, properties.GetProperty("System.GC.Gen0MaxBudget").GetInt64());
        Assert.False(properties.GetProperty("System.GC.Concurrent").GetBoolean());
    }
}
