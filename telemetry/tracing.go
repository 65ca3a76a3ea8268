package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// ServiceName is the service.name of the traces unless OTEL_SERVICE_NAME
// or OTEL_RESOURCE_ATTRIBUTES name another.
const ServiceName = "cf-identity"

// ErrTracingConfig is the error (wrapped in a *TracingConfigError) of an
// OTEL_* variable this build cannot act on.
var ErrTracingConfig = errors.New("telemetry: tracing configuration")

// TracingConfigError names the variable and value TracingFromEnv refused.
type TracingConfigError struct {
	Var, Value, Reason string
}

func (e *TracingConfigError) Error() string {
	return fmt.Sprintf("telemetry: %s=%q: %s", e.Var, e.Value, e.Reason)
}

func (e *TracingConfigError) Unwrap() error { return ErrTracingConfig }

// TracingFromEnv returns the TracerProvider that the standard OpenTelemetry
// environment variables ask for, or nil when they ask for none:
//
//   - tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT or
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, or OTEL_TRACES_EXPORTER
//     names an exporter; OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED=true
//     switch it off;
//   - OTEL_TRACES_EXPORTER=otlp (the default) exports OTLP over HTTP with
//     protobuf, configured by the OTEL_EXPORTER_OTLP_* variables (endpoint,
//     headers, timeout, compression); a protocol other than http/protobuf
//     is a *TracingConfigError, as is an exporter other than otlp, console
//     and none;
//   - OTEL_TRACES_EXPORTER=console writes spans as JSON to console;
//   - OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG choose the sampler
//     (parent-based, always on, by default);
//   - the resource is service.name=cf-identity and service.version=version,
//     then what OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES say.
//
// The caller shuts the provider down to flush its last spans.
func TracingFromEnv(ctx context.Context, version string, console io.Writer) (*sdktrace.TracerProvider, error) {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return nil, nil
	}
	name := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER"))
	if name == "" {
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, nil
		}
		name = "otlp"
	}
	var exp sdktrace.SpanExporter
	var err error
	switch strings.ToLower(name) {
	case "none":
		return nil, nil
	case "otlp":
		protoVar, proto := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		if proto == "" {
			protoVar, proto = "OTEL_EXPORTER_OTLP_PROTOCOL", os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		if proto != "" && proto != "http/protobuf" {
			return nil, &TracingConfigError{Var: protoVar, Value: proto, Reason: "this build exports OTLP over http/protobuf only"}
		}
		exp, err = otlptracehttp.New(ctx)
	case "console":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(console))
	default:
		return nil, &TracingConfigError{Var: "OTEL_TRACES_EXPORTER", Value: name, Reason: "want otlp, console or none"}
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: trace exporter %s: %w", name, err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", ServiceName),
			attribute.String("service.version", version),
		),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, &TracingConfigError{Var: "OTEL_RESOURCE_ATTRIBUTES", Value: os.Getenv("OTEL_RESOURCE_ATTRIBUTES"), Reason: err.Error()}
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// PropagatorFromEnv returns the propagator OTEL_PROPAGATORS names (a comma
// list): "tracecontext" (W3C traceparent, the default), "baggage", or
// "none", which reads no trace context from callers, so that every trace
// starts at the server and callers cannot choose trace IDs or sampling.
// Other values are a *TracingConfigError.
func PropagatorFromEnv() (propagation.TextMapPropagator, error) {
	v := strings.TrimSpace(os.Getenv("OTEL_PROPAGATORS"))
	if v == "" {
		return propagation.TraceContext{}, nil
	}
	var props []propagation.TextMapPropagator
	for _, name := range strings.Split(v, ",") {
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "tracecontext":
			props = append(props, propagation.TraceContext{})
		case "baggage":
			props = append(props, propagation.Baggage{})
		case "none":
			return propagation.NewCompositeTextMapPropagator(), nil
		default:
			return nil, &TracingConfigError{Var: "OTEL_PROPAGATORS", Value: v, Reason: "want tracecontext, baggage or none"}
		}
	}
	return propagation.NewCompositeTextMapPropagator(props...), nil
}
