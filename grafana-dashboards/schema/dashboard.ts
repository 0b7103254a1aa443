// The generated dashboards' JSON, typed with Grafana's published schema (@grafana/schema, the
// TypeScript types Grafana generates from its CUE kinds), strictly: schema_check.py writes each
// dashboard as `const board: Dashboard = <its JSON>` and runs `tsc --strict`, so an unknown or
// misspelled key (excess property), a wrong nesting or a wrong value type fails.
//
// Stricter than the schema's own veneer in two places, on purpose: each core panel's
// `options` and `fieldConfig.defaults.custom` are its plugin's types (the veneer leaves them
// Record<string, unknown>), picked by the panel's `type`; and JSON has no enums, so a string
// enum accepts exactly its values as strings.

import type * as schema from '@grafana/schema';
import type * as heatmap from './node_modules/@grafana/schema/dist/esm/raw/composable/heatmap/panelcfg/x/HeatmapPanelCfg_types.gen';
import type * as stat from './node_modules/@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as statetimeline from './node_modules/@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';
import type * as table from './node_modules/@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type * as timeseries from './node_modules/@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

// A type as it reads in JSON: string enums become the union of their values.
type Json<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends Array<infer U>
      ? Array<Json<U>>
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;

// The Prometheus data source's query (its plugin schema is not part of @grafana/schema 11.6;
// these are the fields of Grafana's PromQuery that the dashboards use).
interface PromQuery extends schema.DataQuery {
  expr: string;
  editorMode?: 'code' | 'builder';
  exemplar?: boolean;
  format?: 'time_series' | 'table' | 'heatmap';
  instant?: boolean;
  interval?: string;
  intervalFactor?: number;
  legendFormat?: string;
  range?: boolean;
}

// The Prometheus data source's annotation options, kept beside the annotation query by
// Grafana (the schema's AnnotationQuery does not list data-source-specific fields).
interface PromAnnotation {
  expr?: string;
  step?: string;
  textFormat?: string;
  titleFormat?: string;
  useValueForTime?: boolean;
}

type FieldConfigSource<Custom> = Omit<schema.FieldConfigSource, 'defaults'> & {
  defaults: Omit<schema.FieldConfig, 'custom'> & { custom?: Custom };
};

type NoCustom = Record<string, never>;

type TypedPanel<Kind extends string, Options, Custom> = Json<
  Omit<schema.Panel, 'type' | 'options' | 'fieldConfig' | 'targets'> & {
    type: Kind;
    options: Options;
    fieldConfig: FieldConfigSource<Custom>;
    targets: PromQuery[];
  }
>;

export type CorePanel =
  | TypedPanel<'timeseries', timeseries.Options, timeseries.FieldConfig>
  | TypedPanel<'stat', stat.Options, NoCustom>
  | TypedPanel<'heatmap', heatmap.Options, heatmap.FieldConfig>
  | TypedPanel<'state-timeline', statetimeline.Options, statetimeline.FieldConfig>
  | TypedPanel<'table', table.Options, table.FieldConfig>;

type Row = Json<Omit<schema.RowPanel, 'panels'>> & { panels: CorePanel[] };

export type Dashboard = Json<Omit<schema.Dashboard, 'panels' | 'annotations' | 'templating'>> & {
  panels: Array<CorePanel | Row>;
  annotations: { list: Array<Json<schema.AnnotationQuery> & PromAnnotation> };
  templating: { list: Array<Json<schema.VariableModel>> };
};
